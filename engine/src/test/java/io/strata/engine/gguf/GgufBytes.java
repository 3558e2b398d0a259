package io.strata.engine.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Test helper: builds GGUF files byte by byte (so tests can break them anywhere) and reads the skeleton of one
 * file's header (keys, tensor names and raw offsets), independently of {@link GgufFile}, which refuses to open one
 * part of a split on its own.
 */
final class GgufBytes {
    private byte[] buf = new byte[256];
    private int size;

    /** Position of the next byte. */
    int pos() {
        return size;
    }

    GgufBytes u8(int v) {
        grow(1);
        buf[size++] = (byte) v;
        return this;
    }

    GgufBytes u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    GgufBytes u32(long v) {
        for (int i = 0; i < 4; i++) u8((int) (v >>> (8 * i)));
        return this;
    }

    GgufBytes u64(long v) {
        for (int i = 0; i < 8; i++) u8((int) (v >>> (8 * i)));
        return this;
    }

    GgufBytes f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    GgufBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(b.length);
        return raw(b);
    }

    GgufBytes raw(byte[] b) {
        grow(b.length);
        System.arraycopy(b, 0, buf, size, b.length);
        size += b.length;
        return this;
    }

    GgufBytes zeros(int n) {
        return raw(new byte[n]);
    }

    /** Zero padding up to a multiple of {@code alignment}. */
    GgufBytes align(int alignment) {
        return zeros((alignment - size % alignment) % alignment);
    }

    /** Magic, version 3 and the two counts. */
    GgufBytes header(long tensors, long kvs) {
        return u32(GgufFile.MAGIC).u32(3).u64(tensors).u64(kvs);
    }

    GgufBytes kvString(String key, String value) {
        return str(key).u32(GgufValueType.STRING.id).str(value);
    }

    GgufBytes kvU32(String key, long value) {
        return str(key).u32(GgufValueType.UINT32.id).u32(value);
    }

    /** A tensor info: name, dims, type id and offset. */
    GgufBytes tensor(String name, long[] ne, int type, long offset) {
        str(name).u32(ne.length);
        for (long d : ne) u64(d);
        return u32(type).u64(offset);
    }

    byte[] bytes() {
        return Arrays.copyOf(buf, size);
    }

    Path write(Path file) {
        try {
            return Files.write(file, bytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void grow(int n) {
        if (size + n > buf.length) buf = Arrays.copyOf(buf, Math.max(size + n, 2 * buf.length));
    }

    // ------------------------------------------------------------------ reading one file's skeleton

    record TensorRecord(String name, long[] ne, int type, long offset) {}

    record Skeleton(List<String> keys, List<TensorRecord> tensors, long headerEnd) {
        long dataStart(int alignment) {
            return (headerEnd + alignment - 1) / alignment * alignment;
        }
    }

    /** Keys and tensor infos of one file (metadata values are skipped; arrays of arrays are not supported). */
    static Skeleton skeleton(Path file) {
        try {
            ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            if (b.getInt() != GgufFile.MAGIC) throw new IllegalArgumentException("not GGUF");
            b.getInt();
            long nt = b.getLong(), nkv = b.getLong();
            List<String> keys = new ArrayList<>();
            for (long i = 0; i < nkv; i++) {
                keys.add(string(b));
                int type = b.getInt();
                if (type == GgufValueType.ARRAY.id) {
                    int et = b.getInt();
                    long n = b.getLong();
                    for (long j = 0; j < n; j++) skip(b, et);
                } else {
                    skip(b, type);
                }
            }
            List<TensorRecord> tensors = new ArrayList<>();
            for (long i = 0; i < nt; i++) {
                String name = string(b);
                long[] ne = new long[b.getInt()];
                for (int d = 0; d < ne.length; d++) ne[d] = b.getLong();
                tensors.add(new TensorRecord(name, ne, b.getInt(), b.getLong()));
            }
            return new Skeleton(keys, tensors, b.position());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String string(ByteBuffer b) {
        byte[] s = new byte[(int) b.getLong()];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    private static void skip(ByteBuffer b, int type) {
        GgufValueType t = GgufValueType.byId(type);
        if (t == GgufValueType.STRING) string(b);
        else if (t == null || t == GgufValueType.ARRAY) throw new IllegalArgumentException("type " + type);
        else b.position(b.position() + t.size);
    }
}
