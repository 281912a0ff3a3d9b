// Package server implements the LLMGatewayService gRPC service: it
// validates requests, converts between the protobuf contract and the llm
// domain types, hands requests to the router, and is the one place where
// internal errors become gRPC status codes.
package server
