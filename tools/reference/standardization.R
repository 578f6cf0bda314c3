# lme4 on sleepstudy with Days shifted (decision 0014, issue 12 item 1), for tests of
# the internal standardisation. Days + 10: lme4 converges; its REML criterion, fixed
# effects, VarCorr and profile intervals are the reference for the fit in the shifted
# units. Days + 1e4: lme4 stops short (recorded to show the failure the standardisation
# avoids). Writes standardization.json next to this script.
suppressMessages({library(lme4); library(jsonlite)})
out <- list()
ci_list <- function(ci) {
  lapply(setNames(seq_len(nrow(ci)), rownames(ci)), function(i) unname(ci[i, ]))
}
d10 <- sleepstudy; d10$Days <- d10$Days + 10
f10 <- lmer(Reaction ~ Days + (Days | Subject), d10)
vc <- as.data.frame(VarCorr(f10))
out$days_plus_10 <- list(
  REMLcrit = REMLcrit(f10), fixef = as.list(fixef(f10)),
  se = unname(sqrt(diag(as.matrix(vcov(f10))))),
  sdcor = unname(vc$sdcor),
  profile = ci_list(suppressWarnings(confint(f10, oldNames = FALSE))))
d4 <- sleepstudy; d4$Days <- d4$Days + 1e4
f4 <- suppressWarnings(lmer(Reaction ~ Days + (Days | Subject), d4))
out$days_plus_1e4_lme4 <- list(REMLcrit = REMLcrit(f4))
out$versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")))
path <- file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE),
                                                   value = TRUE))), "standardization.json")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), path)
