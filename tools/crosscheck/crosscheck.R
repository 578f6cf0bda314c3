# Fits every model listed in models.csv (written by crosscheck.py) with lme4 and writes
# the criterion and theta of each to results.json.  Usage: Rscript crosscheck.R DIR
suppressMessages({library(lme4); library(jsonlite)})
dir <- commandArgs(trailingOnly = TRUE)[1]
models <- read.csv(file.path(dir, "models.csv"), stringsAsFactors = FALSE)
# glmer's default PIRLS tolerance makes its printed criterion inexact by up to 1e-2 for
# non-canonical links and near-singular fits; the converged criterion is the reference.
tight <- glmerControl(tolPwrss = 1e-12)
out <- list()
for (i in seq_len(nrow(models))) {
  m <- models[i, ]
  d <- read.csv(file.path(dir, m$data))
  for (v in strsplit(m$factors, ";")[[1]]) d[[v]] <- factor(d[[v]])
  form <- as.formula(m$formula)
  fit <- tryCatch(suppressMessages(suppressWarnings(
    if (m$family == "lmm") lmer(form, d, REML = as.logical(m$reml))
    else if (m$family == "negative_binomial") glmer.nb(form, d, control = tight)
    else glmer(form, d, family = get(m$family)(link = m$link), nAGQ = m$nagq, control = tight)
  )), error = function(e) NULL)
  if (is.null(fit)) next
  crit <- if (isLMM(fit) && isREML(fit)) REMLcrit(fit) else -2 * as.numeric(logLik(fit))
  out[[m$id]] <- list(crit = crit, theta = getME(fit, "theta"))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path(dir, "results.json"))
