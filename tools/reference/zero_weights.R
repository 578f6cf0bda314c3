# Reference for packages/core/tests/reference/zero_weights.json (issue 12, item 5):
# lme4 leaves out rows with zero prior weight and binomial rows with zero trials.
# Run: Rscript tools/reference/zero_weights.R > packages/core/tests/reference/zero_weights.json
suppressMessages(library(lme4))
cb <- cbpp; cb$incidence[c(2, 5)] <- 0; cb$size[c(2, 5)] <- 0
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb, binomial)
g2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb[cb$size > 0, ], binomial)
cw <- cbpp; cw$w <- 1; cw$w[c(2, 5)] <- 0
g3 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cw, binomial, weights = w)
# The LMM analogue is not reproduced: lmer's log-likelihood is -Inf with zero weights.
d <- sleepstudy; d$w <- 1; d$w[c(3, 10, 50)] <- 0
f1 <- lmer(Reaction ~ Days + (Days | Subject), d, weights = w)
num <- function(x) formatC(x, digits = 12, format = "g")
vec <- function(x) paste0("[", paste(num(x), collapse = ", "), "]")
cat("{\n")
cat(sprintf('  "zero_trials": {"loglik": %s, "deviance": %s, "fixef": %s, "loglik_dropped": %s},\n',
            num(as.numeric(logLik(g1))), num(deviance(g1)), vec(fixef(g1)), num(as.numeric(logLik(g2)))))
cat(sprintf('  "zero_weights": {"loglik": %s, "deviance": %s, "fixef": %s},\n',
            num(as.numeric(logLik(g3))), num(deviance(g3)), vec(fixef(g3))))
cat(sprintf('  "lmm_zero_weights_loglik": "%s"\n', as.character(as.numeric(logLik(f1)))))
cat("}\n")
