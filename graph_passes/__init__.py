"""Pure-Python graph work on the ONNX graph, one small module per pass.

Installed as ``softneuro_ep.graph_passes``; modules import each other relatively.
"""
