export { trainDetector } from './train-detector.js';
