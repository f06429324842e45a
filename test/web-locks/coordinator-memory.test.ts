/** Web Locks over coordinators on the memory engine. */
import { coordinatorConformance } from './coordinator-target.js';

coordinatorConformance('memory://', () => 'memory://web-locks', 1_000);
