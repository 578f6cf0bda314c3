// glmmTMB's lognormal and nbinom12 densities (added in glmmTMB 1.1.6 / 1.1.8; the
// installed glmmTMB is 1.1.5), copied from glmmTMB.cpp into a TMB model with one random
// intercept: the same Laplace approximation (TMB) as glmmTMB would compute.
#include <TMB.hpp>
template<class Type>
Type objective_function<Type>::operator() ()
{
  DATA_INTEGER(family);   // 0: lognormal, 1: nbinom12
  DATA_VECTOR(y);
  DATA_MATRIX(X);
  DATA_MATRIX(Xd);
  DATA_IVECTOR(g);        // 0-based group codes
  DATA_VECTOR(weights);
  PARAMETER_VECTOR(beta);
  PARAMETER_VECTOR(betad);
  PARAMETER_VECTOR(b);
  PARAMETER(theta);
  PARAMETER_VECTOR(psi);
  Type jnll = -dnorm(b, Type(0), exp(theta), true).sum();
  vector<Type> eta = X * beta;
  vector<Type> etad = Xd * betad;
  for (int i = 0; i < y.size(); i++) {
    Type e = eta(i) + b(g(i));
    Type mu = exp(e);
    Type phi = exp(etad(i));
    Type ll;
    if (family == 0) {
      Type s1 = logspace_add(Type(2) * (log(phi) - log(mu)), Type(0));  // log-scale var
      Type s2 = log(mu) - s1 / Type(2);                                    // log-scale mean
      Type s3 = sqrt(s1);
      ll = dnorm(log(y(i)), s2, s3, true) - log(y(i));
    } else {
      Type s2 = e + logspace_add(etad(i), e - psi(0));  // log(var - mu)
      ll = dnbinom_robust(y(i), e, s2, true);
    }
    jnll -= weights(i) * ll;
  }
  return jnll;
}
