"""Generalized linear mixed models: penalised weighted least squares (:mod:`.pwls`), the
Laplace / adaptive-quadrature criterion (:mod:`.criterion`), separation checks
(:mod:`.separation`) and the two-stage fit (:mod:`.fit`).
"""
