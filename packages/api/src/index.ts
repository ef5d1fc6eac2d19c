export * from './schemas/common.js';
export * from './schemas/users.js';
export * from './schemas/teams.js';
export * from './schemas/hosts.js';
export * from './schemas/activities.js';
export * from './client/rest-client.js';
