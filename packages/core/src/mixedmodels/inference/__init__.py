"""Inference on fitted models: denominator df, confidence intervals, profiles, bootstrap,
likelihood-ratio and F tests, marginal means, exact RLRT, structure parameters.
"""
