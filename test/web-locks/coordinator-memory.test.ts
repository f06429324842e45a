/** Web Locks over coordinators on the memory engine. */
import { coordinatorConformance } from './coordinator-target.js';
import { STEADY_TTL_MS } from '../harness/bounds.js';

coordinatorConformance('memory://', () => 'memory://web-locks', STEADY_TTL_MS);
