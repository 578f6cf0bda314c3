# Reference figures for the inference module (denominator df, F tests, emmeans-style
# means and contrasts, Wald chi-square tests, profile intervals) not covered by the
# shared reference set.  R 4.2 with lme4, lmerTest, pbkrtest, emmeans, car, RLRsim.
# Run from this folder: Rscript inference_reference.R  (writes inference_reference.json)
suppressMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(car)
  library(RLRsim)
})

mat <- function(m) {
  m <- as.matrix(m)
  list(rownames = rownames(m), colnames = colnames(m), values = unname(m))
}
tab <- function(t) {
  t <- as.data.frame(t)
  list(rownames = rownames(t), colnames = colnames(t),
       values = unname(lapply(seq_len(nrow(t)), function(i) unname(unlist(t[i, ])))))
}
grab_fit <- function(fit) list(
  theta = unname(getME(fit, "theta")), sigma = sigma(fit),
  fixef = as.list(fixef(fit)), REMLcrit = if (isREML(fit)) unname(REMLcrit(fit)) else NULL,
  deviance = if (!isREML(fit)) deviance(fit) else NULL)

inference_case <- function(fit) {
  out <- list(fit = grab_fit(fit))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    out[[paste0("coef_", key)]] <- mat(coef(summary(fit, ddf = ddf)))
    for (type in 1:3) {
      a <- anova(fit, type = type, ddf = ddf)
      out[[paste0("anova_type", type, "_", key)]] <- tab(a)
    }
  }
  out$vcov_kr <- mat(as.matrix(vcovAdj(as(fit, "lmerMod"))))
  out
}

data(cake, package = "lme4")
out <- list(versions = list(
  R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest")),
  emmeans = as.character(packageVersion("emmeans")),
  car = as.character(packageVersion("car")),
  RLRsim = as.character(packageVersion("RLRsim"))))

# 1. Balanced two-factor model (recipe: treatment contrasts; temperature: ordered,
#    polynomial contrasts).
f_cake <- angle ~ recipe * temperature + (1 | recipe:replicate)
m_bal <- lmerTest::lmer(f_cake, data = cake)
out$cake_balanced <- inference_case(m_bal)

# 2. Unbalanced: every 7th row dropped (rows 1, 8, 15, ...).
drop_rows <- seq(1, nrow(cake), by = 7)
cake_u <- cake[-drop_rows, ]
out$unbalanced_dropped_rows_1based <- drop_rows
m_unb <- lmerTest::lmer(f_cake, data = cake_u)
out$cake_unbalanced <- inference_case(m_unb)

# 3. Factor by numeric interaction (containment with a numeric variable), unbalanced.
m_num <- lmerTest::lmer(angle ~ recipe * temp + (1 | recipe:replicate), data = cake_u)
out$cake_numeric <- inference_case(m_num)

# 4. Sleepstudy: lmerTest summary text, contrasts L beta (one row, two rows).
data(sleepstudy, package = "lme4")
m_sl <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
out$sleepstudy_summary_text <- capture.output(print(summary(m_sl)))
out$sleepstudy_summary_text_kr <- capture.output(print(summary(m_sl, ddf = "Kenward-Roger")))
L1 <- c(1, 5)
L2 <- rbind(c(1, 0), c(0, 1))
out$sleepstudy_contest1D_satterthwaite <- as.list(contest(m_sl, L1, joint = FALSE))
out$sleepstudy_contest1D_kr <- as.list(contest(m_sl, L1, joint = FALSE, ddf = "Kenward-Roger"))
out$sleepstudy_contestMD_satterthwaite <- as.list(contest(m_sl, L2))
out$sleepstudy_contestMD_kr <- as.list(contest(m_sl, L2, ddf = "Kenward-Roger"))
out$sleepstudy_contestMD_rhs_satterthwaite <- as.list(contest(m_sl, L2, rhs = c(250, 10)))

# Two random-effect terms (crossed): Satterthwaite and KR on Penicillin.
data(Penicillin, package = "lme4")
m_pen <- lmerTest::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), data = Penicillin)
out$penicillin <- list(
  fit = grab_fit(m_pen),
  coef_satterthwaite = mat(coef(summary(m_pen))),
  coef_kenward_roger = mat(coef(summary(m_pen, ddf = "Kenward-Roger"))))

# Prior weights (Satterthwaite only: pbkrtest ignores prior weights).
sleepstudy$w <- (sleepstudy$Days + 1) / 5
m_w <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, weights = w)
out$sleepstudy_weights <- list(fit = grab_fit(m_w),
                               coef_satterthwaite = mat(coef(summary(m_w))))

# 5. emmeans on the unbalanced cake model.
em_case <- function(fit, spec, lmer.df) {
  em <- emmeans(fit, spec, lmer.df = lmer.df)
  res <- list(emmeans = tab(summary(em, infer = c(TRUE, TRUE))))
  for (adj in c("tukey", "holm", "bonferroni", "none")) {
    res[[paste0("pairs_", adj)]] <- tab(summary(pairs(em, adjust = adj),
                                                infer = c(TRUE, TRUE)))
  }
  res
}
out$emmeans_recipe_satterthwaite <- em_case(m_unb, ~ recipe, "satterthwaite")
out$emmeans_recipe_kr <- em_case(m_unb, ~ recipe, "kenward-roger")
out$emmeans_temperature_satterthwaite <- em_case(m_unb, ~ temperature, "satterthwaite")
out$emmeans_numeric_recipe_satterthwaite <- em_case(m_num, ~ recipe, "satterthwaite")
out$emmeans_numeric_temp_mean <- mean(cake_u$temp)

# 6. Wald chi-square tests (car::Anova) on the unbalanced model; type III with
#    sum-to-zero coding tests the same hypotheses as lmerTest's type III.
out$car_type2_chisq <- tab(Anova(as(m_unb, "lmerMod"), type = 2, test.statistic = "Chisq"))
op <- options(contrasts = c("contr.sum", "contr.poly"))
m_unb_sum <- lme4::lmer(f_cake, data = cake_u)
out$car_type3_chisq_sum_coding <- tab(Anova(m_unb_sum, type = 3, test.statistic = "Chisq"))
options(op)
data(cbpp, package = "lme4")
g_cbpp <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                family = binomial)
out$cbpp_car_type2_chisq <- tab(Anova(g_cbpp, type = 2))
out$cbpp_car_type3_chisq <- tab(Anova(g_cbpp, type = 3))

# 7. Profile intervals: ML sleepstudy, uncorrelated sleepstudy, Penicillin (two terms).
ci <- function(fit) {
  t <- system.time(c <- confint(fit, method = "profile", oldNames = FALSE))
  list(ci = mat(c), elapsed = unname(t[["elapsed"]]))
}
out$profile_sleepstudy_ml <- ci(lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy,
                                           REML = FALSE))
out$profile_sleepstudy_uncorr <- ci(lme4::lmer(Reaction ~ Days + (Days || Subject),
                                               sleepstudy))
out$profile_penicillin <- ci(lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample),
                                        Penicillin))
out$wald_sleepstudy <- mat(confint(lme4::lmer(Reaction ~ Days + (Days | Subject),
                                              sleepstudy), method = "Wald"))

# 8. Exact RLRT with a single random effect (no mA / m0).
data(Dyestuff, package = "lme4")
set.seed(1)
r1 <- exactRLRT(lme4::lmer(Yield ~ 1 + (1 | Batch), Dyestuff), nsim = 10000)
out$rlrt_dyestuff <- list(statistic = unname(r1$statistic), p_value = r1$p.value,
                          quantiles = as.list(quantile(r1$sample, c(0.5, 0.9, 0.95, 0.99))))

writeLines(jsonlite::toJSON(out, digits = I(17), auto_unbox = TRUE, pretty = TRUE,
                            na = "null"),
           "inference_reference.json")
