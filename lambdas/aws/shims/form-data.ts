/**
 * Stands in for the `form-data` package in the Lambda bundles. `@hubspot/api-client` loads it
 * only to recognise multipart bodies in its default transport, which the gateway replaces with
 * its own (JSON only); the real package drags in `mime-db` (~130 KB minified). An
 * `instanceof` check against this class is always false, which is right: we never send one.
 */
export default class FormData {}
