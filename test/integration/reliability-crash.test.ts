/** A crash after every AWS call, then the retry (reliability-crash.ts): every path but recovery's. */
import { crashSuite } from './reliability-crash.js';

crashSuite((name) => !name.startsWith('recover'));
