/** The optimizers each page offers, by id (the registry's ids where the package has them). */
export const LANDSCAPE_OPTIMIZERS = ['sgd', 'momentum', 'adam', 'lbfgs', 'newton', 'hessian-free', 'saddle-free-newton'] as const;
export const NETWORK_OPTIMIZERS = ['adam', 'kfac', 'hessian-free'] as const;
