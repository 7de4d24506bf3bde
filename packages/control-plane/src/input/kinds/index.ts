import { KindRegistry } from '../registry.js';
import { authorizationPolicyDecoder } from './authorization-policy.js';
import { destinationRuleDecoder } from './destination-rule.js';
import { gatewayDecoder } from './gateway.js';
import { grpcRouteDecoder } from './grpc-route.js';
import { httpRouteDecoder } from './http-route.js';
import { peerAuthenticationDecoder } from './peer-authentication.js';
import { podDecoder } from './pod.js';
import { requestAuthenticationDecoder } from './request-authentication.js';
import { serviceDecoder } from './service.js';
import { namespaceDecoder, nodeDecoder, serviceAccountDecoder } from './simple.js';
import { virtualServiceDecoder } from './virtual-service.js';

export { DRY_RUN_ANNOTATION } from './authorization-policy.js';

/** Every kind the control plane understands today. */
export function defaultRegistry(): KindRegistry {
  return new KindRegistry()
    .register(namespaceDecoder)
    .register(nodeDecoder)
    .register(serviceAccountDecoder)
    .register(podDecoder)
    .register(serviceDecoder)
    .register(authorizationPolicyDecoder)
    .register(peerAuthenticationDecoder)
    .register(gatewayDecoder)
    .register(httpRouteDecoder)
    .register(grpcRouteDecoder)
    .register(requestAuthenticationDecoder)
    .register(destinationRuleDecoder)
    .register(virtualServiceDecoder);
}
