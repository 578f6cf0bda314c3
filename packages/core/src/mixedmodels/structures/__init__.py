"""Covariance structures of random-effect terms (:mod:`.covariance`, gathering
:mod:`.unstructured`, :mod:`.scaled`, :mod:`.time_series`), their residual-correlation
forms (:mod:`.corstruct`), and residual correlation structures and variance functions
(:mod:`.residual`).
"""
