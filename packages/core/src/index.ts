export * from './errors.js';
export * from './roles.js';
export * from './authz.js';
export * from './host-status.js';
export * from './password.js';
