# Reference figures for mixedmodels-diagnostics' influence() (influence.ME / HLMdiag).
#
# Neither influence.ME nor HLMdiag could be installed here (CRAN unreachable), so this
# script computes the same quantities with lme4 alone, following their sources:
#
# * influence.ME 0.9-9 `influence(model, group=)`: for each level, `update(model,
#   data = model.frame(model)[group != level, ])` (exclude.influence, delete = TRUE),
#   keeping fixef() and vcov() of each refit.  Its `cooks.distance.estex` is
#   (b - b_(i))' solve(alt.vcov[[i]]) (b - b_(i)) / p, i.e. it uses the vcov of the
#   *deleted-data* refit (what HLMdiag calls MDFFITS).
# * HLMdiag's case-deletion measures (diagnostics.R / case_delete): Cook's D with the
#   full-data vcov, MDFFITS with the deleted-data vcov, COVRATIO = det(V_(i))/det(V),
#   COVTRACE = |tr(V^-1 V_(i)) - p|, RVC = varcomp_(i) / varcomp - 1 (sigma2, D11,
#   D21, D22: the lower triangle of the random-effect covariance, column-major).
# * HLMdiag's one-step formulas for lmerMod (cooksd_subset.cpp, mdffits_subset.cpp,
#   covratio.cpp, covtrace.cpp with .lmerMod_matrices: V = sigma^2 I + Z D Z') and
#   leverage.lmerMod (Demidenko & Stukel H1, H2; Nobre & Singer's unconfounded H2*).
#
# Refits run twice: with lme4's default control (what influence.ME gives) and with a
# tight bobyqa tolerance (the figures the tests use: the optimum itself).
#
# Run (from this folder): Rscript diagnostics_influence.R
# Writes diagnostics_influence.json; time_influenceME_s is the time of the
# influence.ME-equivalent loop on sleepstudy by Subject (benchmarks/influence_bench.py
# times it again next to the Python code).
suppressMessages(library(lme4))

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                     calc.derivs = FALSE)
gtight <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

varcomp <- function(fit) {
  # HLMdiag's varcomp.mer: sigma2 then the lower triangle of the RE covariance.
  vc <- VarCorr(fit)
  m <- as.matrix(Matrix::bdiag(vc))
  c(sigma2 = attr(vc, "sc")^2, m[!upper.tri(m)])
}

case_measures <- function(fit, fixef_del, vcov_del, varcomp_del) {
  b <- fixef(fit); V <- as.matrix(vcov(fit)); p <- length(b)
  Vi <- solve(V)
  k <- nrow(fixef_del)
  out <- data.frame(cooks = numeric(k), mdffits = numeric(k), covratio = numeric(k),
                    covtrace = numeric(k))
  for (i in seq_len(k)) {
    d <- b - fixef_del[i, ]
    Vd <- vcov_del[[i]]
    out$cooks[i] <- drop(t(d) %*% Vi %*% d) / p
    out$mdffits[i] <- drop(t(d) %*% solve(Vd) %*% d) / p   # = influence.ME cooks.distance
    out$covratio[i] <- det(Vd) / det(V)
    out$covtrace[i] <- abs(sum(diag(Vi %*% Vd)) - p)
  }
  rvc <- sweep(varcomp_del, 2, varcomp(fit), "/") - 1
  list(measures = out, rvc = unname(rvc), fixef_delete = unname(fixef_del))
}

delete_refits <- function(fit, index_sets, control) {
  fr <- model.frame(fit)
  res <- lapply(index_sets, function(drop) {
    upd <- update(fit, data = fr[-drop, , drop = FALSE], control = control)
    list(fixef = fixef(upd), vcov = as.matrix(vcov(upd)), varcomp = varcomp(upd))
  })
  list(fixef = do.call(rbind, lapply(res, `[[`, "fixef")),
       vcov = lapply(res, `[[`, "vcov"),
       varcomp = do.call(rbind, lapply(res, `[[`, "varcomp")))
}

run_case <- function(fit, index_sets, control) {
  r <- delete_refits(fit, index_sets, control)
  case_measures(fit, r$fixef, r$vcov, r$varcomp)
}

one_step <- function(fit, index_sets) {
  # HLMdiag's closed-form one-step measures (variance components held fixed).
  Y <- fit@resp$y; X <- as.matrix(getME(fit, "X")); n <- length(Y); p <- ncol(X)
  s2 <- sigma(fit)^2
  ZDZt <- s2 * as.matrix(crossprod(getME(fit, "A")))
  V <- diag(s2, n) + ZDZt
  Vinv <- solve(V)
  XVXinv <- solve(t(X) %*% Vinv %*% X)
  XVX <- solve(XVXinv)
  M <- Vinv %*% X %*% XVXinv %*% t(X) %*% Vinv
  P <- Vinv - M
  beta <- XVXinv %*% t(X) %*% Vinv %*% Y
  e <- drop(Y - X %*% beta)
  out <- t(sapply(index_sets, function(ind) {
    Pa <- P[ind, ind, drop = FALSE]
    cdd <- XVXinv %*% t(X) %*% Vinv[, ind, drop = FALSE] %*% solve(Pa) %*%
      Vinv[ind, , drop = FALSE] %*% e
    Na <- Vinv - Vinv[, ind, drop = FALSE] %*% solve(Vinv[ind, ind, drop = FALSE]) %*%
      Vinv[ind, , drop = FALSE]
    XNaXinv <- XVXinv + XVXinv %*% t(X) %*% Vinv[, ind, drop = FALSE] %*% solve(Pa) %*%
      Vinv[ind, , drop = FALSE] %*% X %*% XVXinv
    c(cooks = drop(t(cdd) %*% XVX %*% cdd) / p,
      mdffits = drop(t(cdd) %*% (t(X) %*% Na %*% X) %*% cdd) / p,
      covratio = det(XNaXinv) / det(XVXinv),
      covtrace = abs(sum(diag(XVX %*% XNaXinv)) - p))
  }))
  # leverage.lmerMod
  H1 <- X %*% XVXinv %*% t(X) %*% Vinv
  H2 <- ZDZt %*% Vinv %*% (diag(n) - H1)
  lev <- data.frame(overall = diag(H1) + diag(H2), fixef = diag(H1), ranef = diag(H2),
                    ranef_uc = diag(ZDZt) / s2)
  list(measures = as.data.frame(out), leverage = lev)
}

# --- sleepstudy, REML as lmer -----------------------------------------------------
fm <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
fm_tight <- update(fm, control = tight)
subj <- levels(sleepstudy$Subject)
by_subject <- lapply(subj, function(s) which(sleepstudy$Subject == s))
by_obs <- as.list(seq_len(nrow(sleepstudy)))

t0 <- proc.time()[["elapsed"]]
# influence.ME's loop: update(model, data = subset) per level, then fixef/se/vcov/coef
for (s in subj) {
  upd <- update(fm, data = model.frame(fm)[model.frame(fm)$Subject != s, ])
  invisible(list(fixef(upd), sqrt(diag(vcov(upd))), vcov(upd), coef(summary(upd))))
}
time_influenceME <- proc.time()[["elapsed"]] - t0

group_default <- run_case(fm, by_subject, lmerControl())
group_tight <- run_case(fm_tight, by_subject, tight)
obs_tight <- run_case(fm_tight, by_obs, tight)
onestep_group <- one_step(fm_tight, by_subject)
onestep_obs <- one_step(fm_tight, by_obs)

# --- cbpp, binomial GLMM by herd (Laplace) -----------------------------------------
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial,
            control = gtight)
herds <- levels(cbpp$herd)
by_herd <- lapply(herds, function(h) which(cbpp$herd == h))
gfr <- model.frame(gm)
gres <- lapply(by_herd, function(drop) {
  upd <- update(gm, data = cbpp[-drop, , drop = FALSE], control = gtight)
  list(fixef = fixef(upd), vcov = as.matrix(vcov(upd)),
       varcomp = c(as.numeric(VarCorr(upd)$herd)))
})
gfix <- do.call(rbind, lapply(gres, `[[`, "fixef"))
gvc <- lapply(gres, `[[`, "vcov")
b <- fixef(gm); Vg <- as.matrix(vcov(gm)); pg <- length(b)
glmm <- list(
  fixef = unname(b), vcov = unname(Vg), theta = unname(getME(gm, "theta")),
  fixef_delete = unname(gfix),
  cooks = sapply(seq_along(herds), function(i) {
    d <- b - gfix[i, ]; drop(t(d) %*% solve(Vg) %*% d) / pg }),
  mdffits = sapply(seq_along(herds), function(i) {
    d <- b - gfix[i, ]; drop(t(d) %*% solve(gvc[[i]]) %*% d) / pg }),
  covratio = sapply(seq_along(herds), function(i) det(gvc[[i]]) / det(Vg)),
  rvc = sapply(seq_along(herds), function(i)
    gres[[i]]$varcomp / as.numeric(VarCorr(gm)$herd) - 1),
  levels = herds)

out <- list(
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  note = paste("influence.ME / HLMdiag definitions computed with lme4 refits;",
               "influence.ME's cooks.distance uses the deleted-data vcov (= mdffits)"),
  sleepstudy = list(
    fixef = unname(fixef(fm_tight)), vcov = unname(as.matrix(vcov(fm_tight))),
    theta = unname(getME(fm_tight, "theta")), levels = subj,
    varcomp_names = c("sigma2", "D11", "D21", "D22"),
    group_default = group_default, group = group_tight, obs = obs_tight,
    onestep_group = onestep_group$measures, onestep_obs = onestep_obs$measures,
    leverage_obs = onestep_obs$leverage,
    leverage_group_mean = aggregate(onestep_obs$leverage,
                                    list(Subject = sleepstudy$Subject), mean)[, -1],
    time_influenceME_s = time_influenceME),
  cbpp = glmm)
writeLines(jsonlite::toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE,
                            matrix = "rowmajor"),
           "diagnostics_influence.json")
