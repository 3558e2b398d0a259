package io.strata.worker.grpc;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageServiceGrpc;

import java.io.IOException;
import java.io.InputStream;

/**
 * Parses the frames of a stage stream on the receiving worker with one copy of the activations instead of two.
 * gRPC's protobuf marshaller reads each message into a buffer it reuses, so the parser must copy every bytes field out
 * of it: the activations of a 405B-wide step are 64 KiB per row, copied twice before {@link Wire#decode} converts them.
 * This marshaller reads each frame into a buffer of its own, which nothing else writes, and lets the parsed frame's
 * bytes fields point into it (protobuf's aliasing). Sending is unchanged.
 */
final class StageFrameMarshaller implements MethodDescriptor.PrototypeMarshaller<StageFrame> {
    static final StageFrameMarshaller INSTANCE = new StageFrameMarshaller();
    /** The generated method's own marshaller: serializes, and parses streams of unknown length. */
    private static final MethodDescriptor.Marshaller<StageFrame> PROTO = StageServiceGrpc.getStreamMethod().getRequestMarshaller();

    private StageFrameMarshaller() {
    }

    /** The stage service with this marshaller parsing the requests of its stream method. */
    static ServerServiceDefinition bind(ServerServiceDefinition service) {
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(service.getServiceDescriptor().getName());
        for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
            if (m.getMethodDescriptor() == StageServiceGrpc.getStreamMethod()) {
                b.addMethod(withRequests(m));
            } else {
                b.addMethod(m);
            }
        }
        return b.build();
    }

    @SuppressWarnings("unchecked")
    private static <R> ServerMethodDefinition<StageFrame, R> withRequests(ServerMethodDefinition<?, ?> m) {
        ServerMethodDefinition<StageFrame, R> typed = (ServerMethodDefinition<StageFrame, R>) m;  // the stream method's
        return ServerMethodDefinition.create(typed.getMethodDescriptor().toBuilder().setRequestMarshaller(INSTANCE).build(),
                typed.getServerCallHandler());
    }

    @Override
    public InputStream stream(StageFrame value) {
        return PROTO.stream(value);
    }

    @Override
    public StageFrame parse(InputStream in) {
        if (!(in instanceof KnownLength)) return PROTO.parse(in);
        try {
            int size = in.available();
            byte[] buf = new byte[size];
            for (int off = 0; off < size; ) {
                int n = in.read(buf, off, size - off);
                if (n < 0) throw new IOException("the frame ended after " + off + " of " + size + " bytes");
                off += n;
            }
            // An immutable view lets the parser alias bytes fields instead of copying them.
            CodedInputStream cis = UnsafeByteOperations.unsafeWrap(buf).newCodedInput();
            cis.enableAliasing(true);
            cis.setSizeLimit(Integer.MAX_VALUE);
            return StageFrame.parseFrom(cis, ExtensionRegistryLite.getEmptyRegistry());
        } catch (InvalidProtocolBufferException e) {
            throw Status.INTERNAL.withDescription("invalid protobuf bytes in a stage frame: " + e.getMessage())
                    .withCause(e).asRuntimeException();
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("reading a stage frame: " + e.getMessage()).withCause(e).asRuntimeException();
        }
    }

    @Override
    public StageFrame getMessagePrototype() {
        return StageFrame.getDefaultInstance();
    }

    @Override
    public Class<StageFrame> getMessageClass() {
        return StageFrame.class;
    }
}
