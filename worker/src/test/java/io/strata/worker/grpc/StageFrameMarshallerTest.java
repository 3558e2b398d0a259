package io.strata.worker.grpc;

import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.strata.proto.v1.StageFrame;
import io.strata.proto.v1.StageServiceGrpc;
import io.strata.worker.ActivationType;
import io.strata.worker.Frames;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The receiving side's parser of stage frames: the same frames as gRPC's protobuf marshaller, from gRPC's own
 * serialization, and a clear status for bytes that are not a frame. (StageStreamTest runs it in a real server.)
 */
class StageFrameMarshallerTest {

    /** A message as gRPC's transports hand it to a marshaller: a stream that knows its length. */
    static class Known extends ByteArrayInputStream implements KnownLength {
        Known(byte[] b) {
            super(b);
        }
    }

    static StageFrame frame() {
        float[] hidden = WireTest.values();
        Frames.Step step = new Frames.Step(42, List.of(new Frames.Chunk(7, 300, 1, true, null, false, 0, false),
                new Frames.Chunk(9, 12, 1, false, null, false, 0, false)), null, hidden, List.of(),
                List.of(new Frames.Timing(0, "w0", 5, 6), new Frames.Timing(1, "w1", 7, 8)), 0);
        return StageFrame.newBuilder().setStep(Wire.step(step, 64, ActivationType.F32)).build();
    }

    static byte[] bytes(StageFrame f) throws IOException {
        try (InputStream in = ProtoUtils.marshaller(StageFrame.getDefaultInstance()).stream(f)) {
            return in.readAllBytes();
        }
    }

    @Test
    void parsesWhatGrpcSerialized() throws IOException {
        StageFrame f = frame();
        StageFrame back = StageFrameMarshaller.INSTANCE.parse(new Known(bytes(f)));
        assertEquals(f, back);
        assertArrayEquals(WireTest.values(), Wire.decode(back.getStep().getHidden(), "step"));
        // The marshaller's own stream (used by a client of the rebound method) is protobuf's.
        assertArrayEquals(bytes(f), StageFrameMarshaller.INSTANCE.stream(f).readAllBytes());
    }

    @Test
    void aStreamOfUnknownLengthGoesThroughProtobufsParser() throws IOException {
        StageFrame f = frame();
        assertEquals(f, StageFrameMarshaller.INSTANCE.parse(new ByteArrayInputStream(bytes(f))));
    }

    @Test
    void truncatedOrShortFramesAreRefusedWithAStatus() throws IOException {
        byte[] b = bytes(frame());
        byte[] cut = java.util.Arrays.copyOf(b, b.length - 100);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> StageFrameMarshaller.INSTANCE.parse(new Known(cut)));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("stage frame"), e.getStatus().getDescription());

        // A stream that promised more bytes than it holds.
        InputStream lying = new Known(b) {
            @Override
            public synchronized int available() {
                return b.length + 10;
            }
        };
        e = assertThrows(StatusRuntimeException.class, () -> StageFrameMarshaller.INSTANCE.parse(lying));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("ended after " + b.length), e.getStatus().getDescription());
    }

    @Test
    void bindReplacesOnlyTheStreamMethodsRequestMarshaller() {
        ServerServiceDefinition def = StageFrameMarshaller.bind(new StageServiceGrpc.StageServiceImplBase() {
        }.bindService());
        MethodDescriptor<?, ?> m = def.getMethod(StageServiceGrpc.getStreamMethod().getFullMethodName()).getMethodDescriptor();
        assertSame(StageFrameMarshaller.INSTANCE, m.getRequestMarshaller());
        assertSame(StageServiceGrpc.getStreamMethod().getResponseMarshaller(), m.getResponseMarshaller());
        assertEquals(StageServiceGrpc.getServiceDescriptor().getMethods().size(), def.getMethods().size());
    }
}
