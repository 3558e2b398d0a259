package io.strata.metal;

import io.strata.engine.tensor.Tensor;
import io.strata.metal.Device.DeviceBuffer;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Device buffers over weight tensors, made on first use and kept for the backend's life.
 *
 * <p>A tensor that lives in a file mapping (the GGUF map) is wrapped without copying
 * ({@code newBufferWithBytesNoCopy}) over its page-widened range, split into overlapping windows when it is longer
 * than {@code maxBufferLength} ({@link NoCopyWindows}). Anything else (heap memory, a native allocation that
 * is not a mapping, or a mapping the device refuses) is copied into shared buffers cut the same way. The
 * mapping must stay open while the backend uses its tensors.
 */
final class WeightBuffers implements AutoCloseable {

    /** Where bytes of a tensor are on the device: a buffer and offset, and how many bytes follow in that buffer. */
    record Span(Kernels.Ref ref, long bytes) {
    }

    /** One tensor's windows; window addresses are host addresses (wrapped) or offsets from 0 (copied). */
    private record Bound(long base, List<NoCopyWindows.Window> windows, List<DeviceBuffer> buffers) {
    }

    private record Key(Object heap, long address, long size) {
    }

    private final Device device;
    private final Map<Key, Bound> bound = new HashMap<>();
    private long wrappedBytes;
    private long copiedBytes;

    WeightBuffers(Device device) {
        this.device = device;
    }

    /** Bytes of weights wrapped without copying so far. */
    long wrappedBytes() {
        return wrappedBytes;
    }

    /** Bytes of weights copied into device buffers so far. */
    long copiedBytes() {
        return copiedBytes;
    }

    /** The device location of byte {@code offset} of {@code t}'s data (which must lie in one row of {@code rowBytes}). */
    Span locate(Tensor t, long rowBytes, long offset) {
        Bound b = bind(t, rowBytes);
        long at = b.base + offset;
        int i = NoCopyWindows.find(b.windows, at);
        NoCopyWindows.Window w = b.windows.get(i);
        return new Span(new Kernels.Ref(b.buffers.get(i), at - w.address()), w.end() - at);
    }

    private Bound bind(Tensor t, long rowBytes) {
        MemorySegment data = t.data();
        Key key = new Key(data.heapBase().orElse(null), data.address(), data.byteSize());
        Bound b = bound.get(key);
        if (b == null) {
            b = data.isNative() && data.isMapped() ? wrap(t, rowBytes) : null;
            if (b == null) {
                b = copy(t, rowBytes);
            }
            bound.put(key, b);
        }
        return b;
    }

    private Bound wrap(Tensor t, long rowBytes) {
        MemorySegment data = t.data();
        List<NoCopyWindows.Window> windows = NoCopyWindows.plan(data.address(), data.byteSize(), device.pageSize(),
                device.maxBufferLength(), rowBytes);
        List<DeviceBuffer> buffers = new ArrayList<>();
        for (NoCopyWindows.Window w : windows) {
            DeviceBuffer buf = device.wrap(MemorySegment.ofAddress(w.address()).reinterpret(w.length()));
            if (buf == null) {
                for (DeviceBuffer made : buffers) {
                    made.release();
                }
                return null;
            }
            buffers.add(buf);
        }
        for (NoCopyWindows.Window w : windows) {
            wrappedBytes += w.length();
        }
        return new Bound(data.address(), windows, buffers);
    }

    private Bound copy(Tensor t, long rowBytes) {
        MemorySegment data = t.data();
        long size = data.byteSize();
        List<NoCopyWindows.Window> windows = NoCopyWindows.plan(0, size, 4096, device.maxBufferLength(), rowBytes);
        List<DeviceBuffer> buffers = new ArrayList<>();
        for (NoCopyWindows.Window w : windows) {
            DeviceBuffer buf = device.newBuffer(w.length());
            long n = Math.min(w.length(), size - w.address());
            MemorySegment.copy(data, w.address(), buf.contents(), 0, n);
            buffers.add(buf);
            copiedBytes += n;
        }
        return new Bound(0, windows, buffers);
    }

    @Override
    public void close() {
        for (Bound b : bound.values()) {
            for (DeviceBuffer buf : b.buffers) {
                buf.release();
            }
        }
        bound.clear();
    }
}
