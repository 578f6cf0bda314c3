# Reference figures for emmeans on GLMMs (asymptotic inference, type = "response") and
# emmeans' named contrast families (trt.vs.ctrl, consec, poly, eff, del.eff) with their
# default adjustments.  R 4.2 with lme4 1.1-31, emmeans 1.8.4, lmerTest, mvtnorm.
# Run from this folder: Rscript emmeans_glmm_families.R  (writes emmeans_glmm_families.json)
suppressMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})
tab <- function(s) {
  s <- as.data.frame(s)
  for (j in seq_along(s)) if (is.factor(s[[j]])) s[[j]] <- as.character(s[[j]])
  list(columns = names(s), rows = lapply(seq_len(nrow(s)), function(i) as.list(s[i, ])),
       adjust = attr(s, "mesg"))
}
out <- list()
# cbpp: binomial logit (odds ratios on the response scale)
cbpp_fit <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
out$cbpp <- list(fixef = as.list(fixef(cbpp_fit)), theta = unname(getME(cbpp_fit, "theta")),
                 vcov = unname(as.matrix(vcov(cbpp_fit))))
emm <- emmeans(cbpp_fit, "period")
out$cbpp$emmeans_link <- tab(summary(emm, infer = TRUE))
out$cbpp$emmeans_response <- tab(summary(emmeans(cbpp_fit, "period", type = "response"), infer = TRUE))
out$cbpp$pairs_link <- tab(summary(pairs(emm), infer = TRUE))
out$cbpp$pairs_response <- tab(summary(pairs(emm), infer = TRUE, type = "response"))
for (m in c("trt.vs.ctrl", "consec", "poly", "eff", "del.eff")) {
  con <- contrast(emm, m)
  out$cbpp[[paste0(m, "_link")]] <- tab(summary(con, infer = TRUE))
  out$cbpp[[paste0(m, "_response")]] <- tab(summary(con, infer = TRUE, type = "response"))
}
out$cbpp$trt.vs.ctrl_ref3_link <- tab(summary(contrast(emm, "trt.vs.ctrl", ref = 3), infer = TRUE))

# grouseticks: Poisson log (ratios on the response scale)
data(grouseticks)
gt_fit <- glmer(TICKS ~ YEAR + (1 | BROOD), grouseticks, poisson)
out$grouseticks <- list(fixef = as.list(fixef(gt_fit)), theta = unname(getME(gt_fit, "theta")),
                        vcov = unname(as.matrix(vcov(gt_fit))))
emm <- emmeans(gt_fit, "YEAR")
out$grouseticks$emmeans_response <- tab(summary(emmeans(gt_fit, "YEAR", type = "response"), infer = TRUE))
out$grouseticks$pairs_response <- tab(summary(pairs(emm), infer = TRUE, type = "response"))
out$grouseticks$trt.vs.ctrl_response <- tab(summary(contrast(emm, "trt.vs.ctrl"), infer = TRUE, type = "response"))

# cake (balanced): LMM, Satterthwaite df, six temperatures
cake_fit <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake)
out$cake <- list(theta = unname(getME(cake_fit, "theta")))
emm <- emmeans(cake_fit, "temperature", lmer.df = "satterthwaite")
for (m in c("trt.vs.ctrl", "consec", "poly", "eff", "del.eff")) {
  out$cake[[m]] <- tab(summary(contrast(emm, m), infer = TRUE))
}
emm_r <- emmeans(cake_fit, "recipe", by = "temperature", lmer.df = "satterthwaite")
out$cake$trt.vs.ctrl_by <- tab(summary(contrast(emm_r, "trt.vs.ctrl", ref = 2), infer = TRUE))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "emmeans_glmm_families.json")
