export { scoreContinuously } from './score-continuously.js';
export { trainDetector } from './train-detector.js';
