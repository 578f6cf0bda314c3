# glmmTMB 1.1.5 reference for the Student t family (writes t_family.json).
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
Orth <- read.csv("/work/shared/reference/data/Orthodont.csv")
Orth$Sex <- factor(Orth$Sex, levels = c("Male", "Female"))
m <- glmmTMB(distance ~ age + Sex + (1 | Subject), family = t_family, data = Orth)
out <- list(call = "glmmTMB(distance ~ age + Sex + (1 | Subject), family = t_family, data = Orth)",
  logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
  fixef = as.list(fixef(m)$cond), se = as.list(summary(m)$coefficients$cond[, 2]),
  sd = attr(VarCorr(m)$cond$Subject, "stddev"), sigma = sigma(m),
  par = unname(m$fit$par), par_names = names(m$fit$par), family_params = m$fit$par[names(m$fit$par) == "psi"])
sink("t_family.json"); cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE)); sink()
