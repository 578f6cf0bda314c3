# Extra glmmTMB 1.1.5 references for the families plugin: a zero-inflated Poisson with
# a random effect in the zero-inflation model, a truncated-Poisson hurdle, profile
# intervals and a likelihood-ratio anova.  Writes more_cases.json.
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
ref <- "/work/shared/reference/data/"
Sal <- read.csv(paste0(ref, "Salamanders.csv"))
Sal$mined <- factor(Sal$mined, levels = c("yes", "no"))
Sal$spp <- factor(Sal$spp, levels = c("GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"))
Sal$site <- factor(Sal$site)
out <- list()
grab <- function(m) {
  f <- fixef(m)
  list(logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       fixef = lapply(f[lengths(f) > 0], as.list),
       se = lapply(Filter(Negate(is.null), lapply(summary(m)$coefficients, function(t) if (is.null(t)) NULL else as.list(t[, 2]))), identity),
       sd = lapply(Filter(Negate(is.null), VarCorr(m)), function(v) lapply(v, function(x) attr(x, "stddev"))),
       sigma = sigma(m), par = unname(m$fit$par))
}
m1 <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined + (1 | site), family = poisson, data = Sal)
out$zip_re_zi <- grab(m1)
m2 <- glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~spp + mined, family = truncated_poisson, data = Sal)
out$hurdle_truncpois <- grab(m2)
m <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined, family = nbinom2, data = Sal)
m0 <- glmmTMB(count ~ 1 + (1 | site), ziformula = ~mined, family = nbinom2, data = Sal)
a <- anova(m0, m)
out$anova <- list(logLik = a$logLik, Chisq = a$Chisq, Df = a$Df, p = a[["Pr(>Chisq)"]], AIC = a$AIC, BIC = a$BIC)
pr <- confint(m, method = "profile", parm = c(1, 2))
out$profile <- list(rownames = rownames(pr), lower = unname(pr[, 1]), upper = unname(pr[, 2]))
sink("more_cases.json"); cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE)); sink()
