// Unimplemented is thrown for what ts-mls's API cannot express; the server
// answers it with the gRPC status UNIMPLEMENTED and its message.
export class Unimplemented extends Error {}
