# Reference figures for mixedmodels_diagnostics._statistics (insight 0.19 / performance 0.10):
# insight::get_variance, performance::icc (also by_group), r2_nakagawa,
# check_overdispersion, check_collinearity, check_zeroinflation, check_singularity and
# check_convergence on lme4 (and one glmmTMB Gamma) fits of the built-in data sets.
# Run from this folder: Rscript diagnostics_statistics.R  (writes diagnostics_statistics.json)
suppressMessages({library(lme4); library(performance); library(insight); library(glmmTMB)})
data(sleepstudy, package = "lme4"); data(cbpp, package = "lme4")
data(grouseticks, package = "lme4"); data(Penicillin, package = "lme4")
data(Orthodont, package = "nlme"); Orthodont <- as.data.frame(Orthodont)
# (cbpp_probit is a singular fit: insight returns no var.random, performance no ICC)
# as the built-in data set: HEIGHT standardised (mean 0, SD 1)
grouseticks$HEIGHT_s <- as.numeric(scale(grouseticks$HEIGHT))
cbpp$any <- as.numeric(cbpp$incidence > 0)

num <- function(x) if (is.null(x)) NULL else as.list(x)
grab <- function(fit, extra = list()) {
  v <- suppressWarnings(get_variance(fit))
  ic <- suppressWarnings(icc(fit))
  r2 <- suppressWarnings(r2_nakagawa(fit))
  icg <- suppressWarnings(icc(fit, by_group = TRUE))
  conv <- tryCatch(check_convergence(fit), error = function(e) NA)
  out <- list(
    fixef = num(if (inherits(fit, "glmmTMB")) fixef(fit)$cond else fixef(fit)),
    theta = if (inherits(fit, "merMod")) unname(getME(fit, "theta")) else NULL,
    logLik = as.numeric(logLik(fit)),
    variance = list(
      var.fixed = v$var.fixed, var.random = v$var.random, var.residual = v$var.residual,
      var.distribution = v$var.distribution, var.dispersion = v$var.dispersion,
      var.intercept = num(v$var.intercept), var.slope = num(v$var.slope)),
    icc = if (is.data.frame(ic)) list(adjusted = ic$ICC_adjusted,
                                      conditional = ic$ICC_conditional) else NULL,
    icc_by_group = if (is.data.frame(icg)) as.list(setNames(icg$ICC, icg$Group)) else NULL,
    r2 = list(marginal = unname(r2$R2_marginal), conditional = unname(r2$R2_conditional)),
    singular = check_singularity(fit),
    convergence = list(converged = as.logical(conv),
                       gradient = if (is.logical(conv)) attr(conv, "gradient") else NA))
  c(out, extra)
}
`%||%` <- function(a, b) if (is.null(a)) b else a
od <- function(fit) {
  o <- check_overdispersion(fit)
  list(chisq = o$chisq_statistic, ratio = o$dispersion_ratio, df = o$residual_df,
       p = o$p_value)
}
zi <- function(fit) {
  z <- check_zeroinflation(fit)
  list(predicted = z$predicted.zeros, observed = z$observed.zeros, ratio = z$ratio)
}
vif <- function(fit) {
  v <- suppressWarnings(check_collinearity(fit))
  list(term = v$Term, vif = v$VIF, vif_ci_low = v$VIF_CI_low, vif_ci_high = v$VIF_CI_high,
       tolerance = v$Tolerance, adj_vif = v$SE_factor)
}

out <- list()
out$sleep_intercept <- grab(lmer(Reaction ~ Days + (1 | Subject), sleepstudy))
out$sleep_slopes <- grab(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
out$sleep_uncorr <- grab(lmer(Reaction ~ Days + (Days || Subject), sleepstudy))
out$penicillin <- grab(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
fit <- lmer(distance ~ age * Sex + (1 | Subject), Orthodont)
out$orthodont <- grab(fit, list(collinearity = vif(fit)))
fit <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
out$cbpp <- grab(fit, list(overdispersion = od(fit)))
out$cbpp_probit <- grab(glmer(any ~ period + (1 | herd), cbpp,
                              family = binomial(link = "probit")))
out$cbpp_probit_trials <- grab(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                                     cbpp, family = binomial(link = "probit")))
out$cbpp_cloglog_trials <- grab(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                                      cbpp, family = binomial(link = "cloglog")))
# binary responses (Bernoulli): probit and cloglog latent variances
grouseticks$any <- as.numeric(grouseticks$TICKS > 0)
out$grouse_probit <- grab(glmer(any ~ YEAR + HEIGHT_s + (1 | LOCATION), grouseticks,
                                family = binomial(link = "probit")))
out$grouse_cloglog <- grab(glmer(any ~ YEAR + HEIGHT_s + (1 | LOCATION), grouseticks,
                                 family = binomial(link = "cloglog")))
fit <- glmer(TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION), grouseticks,
             family = poisson)
out$grouse_poisson <- grab(fit, list(overdispersion = od(fit), zero_inflation = zi(fit),
                                     collinearity = vif(fit),
                                     null_fixef = unname(fixef(null_model(fit))),
                                     null_theta = unname(getME(null_model(fit), "theta"))))
fit <- glmer(TICKS ~ YEAR + (1 | LOCATION), grouseticks, family = poisson)
out$grouse_poisson_location <- grab(fit, list(overdispersion = od(fit),
                                              zero_inflation = zi(fit),
                                              null_fixef = unname(fixef(null_model(fit)))))
# an observation-level random effect (INDEX) goes to var.dispersion
fit <- glmer(TICKS ~ YEAR + (1 | BROOD) + (1 | INDEX), grouseticks, family = poisson)
out$grouse_olre <- grab(fit, list(null_fixef = unname(fixef(null_model(fit)))))
fit <- glmer.nb(TICKS ~ YEAR + (1 | BROOD), grouseticks)
out$grouse_nb <- grab(fit, list(zero_inflation = zi(fit), overdispersion = od(fit), nb_theta = getME(fit, "glmer.nb.theta"),
                                null_fixef = unname(fixef(null_model(fit))),
                                null_theta = getME(null_model(fit), "glmer.nb.theta"),
                                model_family = model_info(fit)$family))
dd <- read.csv("glmm_dispersion.csv", stringsAsFactors = TRUE)
fit <- glmmTMB(y_gamma ~ x + (1 | g), dd, family = Gamma(link = "log"))
out$gamma_tmb <- grab(fit, list(sigma = sigma(fit)))
out$versions <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                     lme4 = as.character(packageVersion("lme4")),
                     insight = as.character(packageVersion("insight")),
                     performance = as.character(packageVersion("performance")),
                     glmmTMB = as.character(packageVersion("glmmTMB")))
writeLines(jsonlite::toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, null = "null",
                            na = "null"),
           "diagnostics_statistics.json")
