"""The synthetic corpus generator and its vocabulary."""
