"""Covariance structures of random-effect terms (:mod:`.covariance`) and residual
correlation structures and variance functions (:mod:`.residual`).
"""
