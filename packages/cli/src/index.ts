export { osqueryFlagfile } from './commands/enroll-kit.js';
