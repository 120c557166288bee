"""rnnlab: recurrent neural networks with explicit, hand-written BPTT."""
