# Reference figures for contrasts= and C(x, contr.*) in model formulas: lme4's column
# names and estimates with contr.sum / contr.helmert / contr.poly / contr.SAS /
# contr.treatment.  R 4.2.2, lme4 1.1-31.
# Run from this folder: Rscript contrasts_reference.R  (writes contrasts_reference.json)
suppressMessages({
  library(lme4)
  library(jsonlite)
})
cake$tempf <- factor(cake$temp)  # unordered copy of temperature
grab <- function(fit) list(
  fixef_names = names(fixef(fit)), fixef = unname(fixef(fit)),
  se = unname(sqrt(diag(as.matrix(vcov(fit))))),
  theta = unname(getME(fit, "theta")),
  criterion = if (isREML(fit)) unname(REMLcrit(fit)) else unname(deviance(fit)))
out <- list(
  sum_helmert = grab(lmer(angle ~ recipe * tempf + (1 | recipe:replicate), cake,
                          contrasts = list(recipe = "contr.sum", tempf = "contr.helmert"))),
  sas_poly = grab(lmer(angle ~ recipe + tempf + (1 | recipe:replicate), cake,
                       contrasts = list(recipe = "contr.SAS", tempf = "contr.poly"))),
  ordered_treatment = grab(lmer(angle ~ recipe + temperature + (1 | recipe:replicate), cake,
                                contrasts = list(temperature = "contr.treatment"))),
  C_in_formula = grab(lmer(angle ~ C(recipe, contr.sum) + C(tempf, "contr.helmert") +
                             (1 | recipe:replicate), cake)),
  glmer_sum = grab(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                         binomial, contrasts = list(period = "contr.sum")))
)
writeLines(toJSON(out, digits = NA, pretty = TRUE), "contrasts_reference.json")
