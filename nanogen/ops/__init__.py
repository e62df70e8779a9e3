"""Differentiable operations, one family per file, each op a Function subclass on raw ndarrays.

Reading order: elementwise.py -> activation.py -> reduce.py -> shape.py -> linalg.py -> loss.py,
then the convolution chapter: conv.py, pool.py, norm.py (these call nanogen/kernels/).
Each file ends with the lowercase public functions (add, relu, sum, ...) that check their
arguments and call `Op.apply`; nanogen.functional gathers them under one name, `F`.
"""
