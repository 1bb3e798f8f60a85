/** A crash after every AWS call, then the retry (reliability-crash.ts): recovery's paths. */
import { crashSuite } from './reliability-crash.js';

crashSuite((name) => name.startsWith('recover'));
