export { HttpEndpoint, json, text } from './http-endpoint.js';
export type { EndpointHandler, EndpointResponse, Routes } from './http-endpoint.js';
export { statsRoutes } from './stats.js';
export type { MetricsSource } from './stats.js';
