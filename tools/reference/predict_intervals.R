# Reference figures for predict(..., se_fit = TRUE, interval = ...) of mixed models.
# LMM (sleepstudy, REML): population-level SEs by hand from lme4's vcov; conditional
# SEs by hand from the mixed-model equations with lme4's X, Z, Lambda and sigma
# (Henderson's prediction error variance, theta taken as known); prediction intervals
# adding sigma^2.  GLMM (cbpp, Laplace): glmmTMB's predict(se.fit = TRUE, re.form = NA)
# on the link scale.  R 4.2.2, lme4 1.1-31, glmmTMB.
# Run from this folder: Rscript predict_intervals.R  (writes predict_intervals.json)
suppressMessages({
  library(lme4)
  library(glmmTMB)
  library(Matrix)
  library(jsonlite)
})
fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
X <- getME(fit, "X")
V <- as.matrix(vcov(fit))
pop <- drop(X %*% fixef(fit))
pop_se <- sqrt(rowSums((X %*% V) * X))
ZL <- as.matrix(getME(fit, "Z") %*% getME(fit, "Lambda"))
A <- cbind(X, ZL)
C <- crossprod(A)
q <- ncol(ZL)
C[-(1:2), -(1:2)] <- C[-(1:2), -(1:2)] + diag(q)
pev <- sigma(fit)^2 * rowSums((A %*% solve(C)) * A)
cond <- drop(predict(fit))
# A new subject: population-level prediction interval adds the random effects' and the
# residual variance.
newd <- data.frame(Days = c(0, 5, 9), Subject = "new")
Xn <- model.matrix(~ Days, newd)
Sig <- as.matrix(VarCorr(fit)$Subject)
new_fit <- drop(Xn %*% fixef(fit))
new_var <- rowSums((Xn %*% V) * Xn)
new_pred_var <- new_var + rowSums((Xn %*% Sig) * Xn) + sigma(fit)^2
g <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
gp <- predict(g, re.form = NA, se.fit = TRUE)
gr <- predict(g, re.form = NA, se.fit = TRUE, type = "response")
out <- list(
  lmm = list(population_fit = unname(pop), population_se = unname(pop_se),
             conditional_fit = unname(cond), conditional_se = unname(sqrt(pev)),
             sigma = sigma(fit),
             new_days = newd$Days, new_fit = unname(new_fit), new_se = unname(sqrt(new_var)),
             new_prediction_sd = unname(sqrt(new_pred_var))),
  glmm_tmb = list(link_fit = unname(gp$fit), link_se = unname(gp$se.fit),
                  response_fit = unname(gr$fit), response_se = unname(gr$se.fit),
                  fixef = unname(fixef(g)$cond))
)
writeLines(toJSON(out, digits = NA, pretty = TRUE), "predict_intervals.json")
