# A cbpp bootstrap sample on which L-BFGS-B used to stop at theta = 0 (-2 log L 165.53).
# Output (R 4.2.2, lme4 1.1-31): 162.13448740 0.35356225
suppressMessages(library(lme4))
data(cbpp)
cbpp$incidence <- c(2,1,1,1,4,0,3,8,6,2,2,1,0,1,1,4,2,2,1,2,0,1,1,5,3,1,0,10,3,0,2,0,4,4,0,0,4,1,0,0,1,0,0,0,4,3,2,0,3,0,1,0,6,0,2,0)
f <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
cat(sprintf("%.8f %.8f\n", -2*logLik(f), getME(f, "theta")))
