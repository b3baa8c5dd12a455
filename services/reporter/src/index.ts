// Public surface of @nnunet-operator/reporter: the log parser and the log tail.
export * from "./parse/nnunet-log.js";
export * from "./tail.js";
export * from "./epoch-message.js";
