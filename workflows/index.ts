export { forecastCapacity } from './forecast-capacity.js';
export { rollbackDetector } from './rollback-detector.js';
export { scoreContinuously } from './score-continuously.js';
export { trainDetector } from './train-detector.js';
