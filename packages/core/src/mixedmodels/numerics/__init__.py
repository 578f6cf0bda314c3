"""Numerical building blocks shared by the fitting layers: bounded optimisation and the
convergence check (:mod:`.optimize`), finite differences (:mod:`.derivatives`), R's
``zapsmall`` (:mod:`.rounding`), a progress bar.
"""
