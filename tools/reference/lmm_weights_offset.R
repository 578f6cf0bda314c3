# Reference figures for prior weights, offsets and predictions in lmer
# (not covered by the shared reference set). Run: Rscript lmm_weights_offset.R
suppressMessages(library(lme4))
data(sleepstudy)
sleepstudy$w <- (sleepstudy$Days + 1) / 5
sleepstudy$off <- sleepstudy$Days * 2
out <- list()
fit1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, weights = w)
fit2 <- lmer(Reaction ~ Days + (1 | Subject) + offset(off), sleepstudy, REML = FALSE)
fit3 <- lmer(Reaction ~ Days + I(Days^2) + (1 | Subject), sleepstudy, REML = FALSE)
grab <- function(fit) list(
  fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
  theta = unname(getME(fit, "theta")), sigma = sigma(fit),
  logLik = as.numeric(logLik(fit)), REML = isREML(fit),
  crit = if (isREML(fit)) unname(REMLcrit(fit)) else deviance(fit),
  fitted_first10 = unname(fitted(fit)[1:10]))
out$weights_reml <- grab(fit1)
out$offset_ml <- grab(fit2)
out$poly_ml <- grab(fit3)
nd <- data.frame(Days = c(0, 5, 9), Subject = factor(c("308", "309", "999")), off = c(0, 10, 18))
out$predict <- list(
  population = unname(predict(fit1, newdata = nd, re.form = NA)),
  conditional = unname(predict(fit1, newdata = nd, allow.new.levels = TRUE)))
writeLines(jsonlite::toJSON(out, digits = I(17), auto_unbox = TRUE, pretty = TRUE),
           "lmm_weights_offset.json")
