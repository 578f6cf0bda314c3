# Reference figures for structured random-effect covariances (glmmTMB, ML) and residual
# correlation / variance functions (nlme) not covered by the shared reference set.
# Run from this folder: Rscript covariance_structures.R  (writes covariance_structures.json)
suppressMessages({library(glmmTMB); library(nlme); library(lme4)})
data(sleepstudy, package = "lme4"); data(cake, package = "lme4"); data(cbpp, package = "lme4")
data(Orthodont, package = "nlme"); data(Ovary, package = "nlme")
Orthodont <- as.data.frame(Orthodont); Ovary <- as.data.frame(Ovary)
out <- list()

tmb <- function(fit) {
  vc <- VarCorr(fit)$cond
  list(
    logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
    fixef = as.list(fixef(fit)$cond), sigma = sigma(fit),
    varcorr = lapply(vc, function(m) list(
      sd = unname(attr(m, "stddev")),
      corr = if (is.null(attr(m, "correlation"))) NULL else unname(attr(m, "correlation")))),
    theta = unname(getME(fit, "theta")),
    convergence = fit$fit$convergence)
}
cake$temp_f <- factor(cake$temperature, ordered = FALSE)
sleepstudy$D2 <- (sleepstudy$Days / 3)^2
# glmmTMB 1.1.5 fails from its default start here (NA logLik): start from theta = (3, 1).
out$tmb_sleep_ar1 <- tmb(glmmTMB(Reaction ~ Days + ar1(0 + factor(Days) | Subject), sleepstudy,
                                 start = list(theta = c(3, 1))))
out$tmb_sleep_cs <- tmb(glmmTMB(Reaction ~ Days + cs(1 + Days | Subject), sleepstudy))
out$tmb_sleep_cs3 <- tmb(glmmTMB(Reaction ~ Days + cs(1 + Days + D2 | Subject), sleepstudy))
out$tmb_sleep_toep3 <- tmb(glmmTMB(Reaction ~ Days + toep(1 + Days + D2 | Subject), sleepstudy))
out$tmb_orthodont_ar1 <- tmb(glmmTMB(distance ~ age + Sex + ar1(0 + factor(age) | Subject),
                                     Orthodont))
out$tmb_cake_cs <- tmb(glmmTMB(angle ~ recipe + temp_f + cs(0 + recipe | replicate), cake))
out$tmb_cake_diag <- tmb(glmmTMB(angle ~ recipe + temp_f + diag(0 + recipe | replicate), cake))
out$tmb_cake_ar1 <- tmb(glmmTMB(angle ~ recipe + temp_f + ar1(0 + recipe | replicate), cake))
out$tmb_cbpp_cs <- tmb(glmmTMB(cbind(incidence, size - incidence) ~ period +
                                 cs(0 + period | herd), cbpp, family = binomial))
# glmmTMB's us() does not converge on cake (a singular fit): lme4's ML fit instead.
out$lmer_cake_us <- list(logLik = as.numeric(logLik(
  lmer(angle ~ recipe + temp_f + (0 + recipe | replicate), cake, REML = FALSE))))
# homcs / homdiag are newer than glmmTMB 1.1.5: their lme4 equivalents.
out$lmer_cake_homcs_equiv <- list(logLik = as.numeric(logLik(
  lmer(angle ~ recipe + temp_f + (1 | replicate) + (1 | replicate:recipe), cake, REML = FALSE))))
out$lmer_cake_homdiag_equiv <- list(logLik = as.numeric(logLik(
  lmer(angle ~ recipe + temp_f + (1 | replicate:recipe), cake, REML = FALSE))))

nl <- function(fit) {
  cs <- fit$modelStruct$corStruct; vs <- fit$modelStruct$varStruct
  iv <- tryCatch(intervals(fit, which = "var-cov"), error = function(e) NULL)
  ivl <- function(x) if (is.null(x)) NULL else list(
    names = rownames(x), lower = unname(x[, 1]), est = unname(x[, 2]), upper = unname(x[, 3]))
  res <- list(
    logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
    fixef = if (inherits(fit, "gls")) as.list(coef(fit)) else as.list(fixef(fit)),
    sigma = fit$sigma,
    corStruct = if (is.null(cs)) NULL else as.list(coef(cs, unconstrained = FALSE)),
    varStruct = if (is.null(vs)) NULL else as.list(coef(vs, unconstrained = FALSE)),
    intervals_corStruct = if (is.null(iv)) NULL else ivl(iv$corStruct),
    intervals_varStruct = if (is.null(iv)) NULL else ivl(iv$varStruct),
    intervals_sigma = if (is.null(iv)) NULL else unname(iv$sigma))
  if (!inherits(fit, "gls")) {
    res$re_sd <- unname(as.numeric(VarCorr(fit)[, "StdDev"][seq_len(nrow(VarCorr(fit)) - 1)]))
  }
  res
}
fo <- distance ~ age + Sex
out$lme_orthodont_power <- nl(lme(fo, Orthodont, random = ~1 | Subject,
                                  weights = varPower(form = ~age)))
out$lme_orthodont_exp <- nl(lme(fo, Orthodont, random = ~1 | Subject,
                                weights = varExp(form = ~age)))
data(dietox, package = "geepack"); dietox$Pig <- factor(dietox$Pig)
out$gls_dietox_constpower <- nl(gls(Weight ~ Time, dietox, weights = varConstPower(form = ~Time)))
out$lme_dietox_constpower <- nl(lme(Weight ~ Time, dietox, random = ~1 | Pig,
                                    weights = varConstPower(form = ~Time)))
out$lme_orthodont_fixed_ml <- nl(lme(fo, Orthodont, random = ~1 | Subject,
                                     weights = varFixed(~age), method = "ML"))
out$lme_orthodont_comb <- nl(lme(fo, Orthodont, random = ~1 | Subject,
                                 weights = varComb(varIdent(form = ~1 | Sex),
                                                   varPower(form = ~age))))
out$lme_orthodont_power_fitted <- nl(lme(fo, Orthodont, random = ~1 | Subject,
                                         weights = varPower()))
out$gls_orthodont_symm_ident <- nl(gls(distance ~ age * Sex, Orthodont,
                                       correlation = corSymm(form = ~1 | Subject),
                                       weights = varIdent(form = ~1 | age)))
out$gls_orthodont_ar1_ml <- nl(gls(fo, Orthodont, correlation = corAR1(form = ~1 | Subject),
                                   method = "ML"))
fov <- follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)
out$lme_ovary_arma11 <- nl(lme(fov, Ovary, random = ~1 | Mare,
                               correlation = corARMA(p = 1, q = 1)))
out$lme_ovary_arma11_diag <- nl(lme(fov, Ovary, random = list(Mare = pdDiag(~sin(2 * pi * Time))),
                                    correlation = corARMA(p = 1, q = 1)))
out$lme_ovary_car1 <- nl(lme(fov, Ovary, random = ~1 | Mare,
                             correlation = corCAR1(form = ~Time | Mare)))
out$lme_ovary_ar2_ml <- nl(lme(fov, Ovary, random = ~1 | Mare,
                               correlation = corARMA(p = 2, q = 0), method = "ML"))
out$versions <- list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                     nlme = as.character(packageVersion("nlme")),
                     lme4 = as.character(packageVersion("lme4")))
writeLines(jsonlite::toJSON(out, digits = I(17), auto_unbox = TRUE, pretty = TRUE, null = "null"),
           "covariance_structures.json")
