package io.strata.worker.grpc;

import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.strata.proto.v1.WorkerControlGrpc;

/**
 * Enforces "Hello first on every connection" for the control service: each transport (TCP connection) gets a
 * {@link Connection} when it opens; {@code WorkerControl.Hello} marks it greeted, and any other control call on a
 * connection that has not said Hello is refused with FAILED_PRECONDITION. (Stage streams carry their Hello as their
 * first frame and are checked by the stage service.)
 */
final class HelloGate extends ServerTransportFilter implements ServerInterceptor {

    /** Per-connection handshake state. */
    static final class Connection {
        volatile boolean greeted;
        volatile String caller = "";
    }

    static final Attributes.Key<Connection> CONNECTION = Attributes.Key.create("strata.connection");
    static final Context.Key<Connection> CURRENT = Context.key("strata.connection");

    @Override
    public Attributes transportReady(Attributes attrs) {
        return attrs.toBuilder().set(CONNECTION, new Connection()).build();
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Connection c = call.getAttributes().get(CONNECTION);
        if (c == null) c = new Connection();  // in-process transports without the filter
        String method = call.getMethodDescriptor().getFullMethodName();
        if (call.getMethodDescriptor().getServiceName().equals(WorkerControlGrpc.SERVICE_NAME)
                && !method.equals(WorkerControlGrpc.getHelloMethod().getFullMethodName()) && !c.greeted) {
            call.close(Status.FAILED_PRECONDITION.withDescription(method + " before Hello: the first call on every connection must be "
                    + WorkerControlGrpc.getHelloMethod().getFullMethodName()), new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        return Contexts.interceptCall(Context.current().withValue(CURRENT, c), call, headers, next);
    }
}
