// Stands in for @fastify/ajv-compiler and @fastify/fast-json-stringify-compiler in the
// service bundles (images/bundle.sh). Our routes declare no JSON schemas (bodies are checked
// with zod), so fastify never compiles one; the real compilers would only carry ajv into
// every image. A route that declares a schema fails loudly at registration instead.
"use strict";
module.exports = function noSchemaCompilers() {
  return function compilerFactory() {
    throw new Error("fastify route schemas are not compiled in this image: validate the body with zod instead (images/no-schema-compilers.cjs)");
  };
};
