package io.strata.metal.objc;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The Objective-C runtime through java.lang.foreign: classes, selectors, autorelease pools and message sends.
 *
 * <p>{@code objc_msgSend} has no prototype of its own: it jumps to the method with the argument registers as the
 * caller set them, so each call must use the exact C prototype of the method (and never a variadic call: on arm64
 * variadic arguments go on the stack). There is therefore one downcall handle per distinct method signature
 * ({@link Sig}), all bound to {@code objc_msgSend}'s address, and every selector is declared with its signature
 * ({@link Sel}); the typed send methods check that pairing. {@code MTLSize} travels by value as a
 * {@link #MTL_SIZE} struct, which the linker passes as the platform ABI requires.
 *
 * <p>Nothing here touches libobjc until a message is sent: the handles are built from descriptors alone (so the
 * tables load and are tested on Linux), and the runtime library is looked up on first use, on macOS only.
 */
public final class ObjC {

    private ObjC() {
    }

    /** {@code NSUInteger} / {@code NSInteger} on 64-bit Apple platforms. */
    public static final ValueLayout.OfLong NSUINTEGER = JAVA_LONG;

    /** {@code MTLSize}: three {@code NSUInteger}s, passed by value. */
    public static final StructLayout MTL_SIZE = MemoryLayout.structLayout(
            NSUINTEGER.withName("width"), NSUINTEGER.withName("height"), NSUINTEGER.withName("depth"));

    /** Whether this JVM runs where the real Metal backend can: macOS on Apple silicon. */
    public static boolean isSupportedPlatform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return os.startsWith("mac") && (arch.equals("aarch64") || arch.equals("arm64"));
    }

    /**
     * The C prototypes of the methods Strata sends, each with {@code self} and {@code _cmd} first. One downcall
     * handle each; the handle's first parameter is the function address ({@code objc_msgSend}).
     */
    public enum Sig {
        /** {@code id f(id, SEL)}; also pointer results such as {@code contents}, {@code UTF8String}. */
        ID(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS)),
        /** {@code void f(id, SEL)} */
        VOID(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS)),
        /** {@code NSUInteger f(id, SEL)} */
        ULONG(FunctionDescriptor.of(NSUINTEGER, ADDRESS, ADDRESS)),
        /** {@code BOOL f(id, SEL)} (BOOL is C bool on arm64) */
        BOOL(FunctionDescriptor.of(JAVA_BOOLEAN, ADDRESS, ADDRESS)),
        /** {@code BOOL f(id, SEL, NSInteger)} */
        BOOL_LONG(FunctionDescriptor.of(JAVA_BOOLEAN, ADDRESS, ADDRESS, NSUINTEGER)),
        /** {@code id f(id, SEL, id-or-pointer)} */
        ID_ADDR(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS)),
        /** {@code void f(id, SEL, id)} */
        VOID_ADDR(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS)),
        /** {@code id f(id, SEL, id, NSError**)} */
        ID_ADDR_ADDR(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS)),
        /** {@code id f(id, SEL, id, id, NSError**)} */
        ID_ADDR_ADDR_ADDR(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS)),
        /** {@code id f(id, SEL, NSUInteger, NSUInteger)} */
        ID_ULONG_ULONG(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, NSUINTEGER, NSUINTEGER)),
        /** {@code id f(id, SEL, void*, NSUInteger, NSUInteger, id)} */
        ID_ADDR_ULONG_ULONG_ADDR(FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS, NSUINTEGER, NSUINTEGER, ADDRESS)),
        /** {@code void f(id, SEL, id-or-pointer, NSUInteger, NSUInteger)} */
        VOID_ADDR_ULONG_ULONG(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS, NSUINTEGER, NSUINTEGER)),
        /** {@code void f(id, SEL, NSUInteger, NSUInteger)} */
        VOID_ULONG_ULONG(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, NSUINTEGER, NSUINTEGER)),
        /** {@code void f(id, SEL, MTLSize, MTLSize)} (structs by value) */
        VOID_SIZE_SIZE(FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, MTL_SIZE, MTL_SIZE));

        public final FunctionDescriptor descriptor;
        final MethodHandle handle;

        Sig(FunctionDescriptor descriptor) {
            this.descriptor = descriptor;
            // no Linker.Option.firstVariadicArg: objc_msgSend is called with the method's exact prototype
            this.handle = Linker.nativeLinker().downcallHandle(descriptor);
        }

        /** Arguments after {@code self} and {@code _cmd}. */
        public int extraArguments() {
            return descriptor.argumentLayouts().size() - 2;
        }

        public MethodHandle handle() {
            return handle;
        }
    }

    /** Every selector Strata sends, with the signature of its method. */
    public enum Sel {
        ALLOC("alloc", Sig.ID),
        INIT("init", Sig.ID),
        RETAIN("retain", Sig.ID),
        RELEASE("release", Sig.VOID),
        STRING_WITH_UTF8("stringWithUTF8String:", Sig.ID_ADDR),
        UTF8_STRING("UTF8String", Sig.ID),
        LOCALIZED_DESCRIPTION("localizedDescription", Sig.ID),
        NAME("name", Sig.ID),
        MAX_BUFFER_LENGTH("maxBufferLength", Sig.ULONG),
        RECOMMENDED_MAX_WORKING_SET_SIZE("recommendedMaxWorkingSetSize", Sig.ULONG),
        HAS_UNIFIED_MEMORY("hasUnifiedMemory", Sig.BOOL),
        SUPPORTS_FAMILY("supportsFamily:", Sig.BOOL_LONG),
        NEW_COMMAND_QUEUE("newCommandQueue", Sig.ID),
        NEW_LIBRARY_WITH_SOURCE("newLibraryWithSource:options:error:", Sig.ID_ADDR_ADDR_ADDR),
        NEW_FUNCTION_WITH_NAME("newFunctionWithName:", Sig.ID_ADDR),
        NEW_PIPELINE_WITH_FUNCTION("newComputePipelineStateWithFunction:error:", Sig.ID_ADDR_ADDR),
        MAX_TOTAL_THREADS_PER_THREADGROUP("maxTotalThreadsPerThreadgroup", Sig.ULONG),
        THREAD_EXECUTION_WIDTH("threadExecutionWidth", Sig.ULONG),
        NEW_BUFFER_WITH_LENGTH("newBufferWithLength:options:", Sig.ID_ULONG_ULONG),
        NEW_BUFFER_NO_COPY("newBufferWithBytesNoCopy:length:options:deallocator:", Sig.ID_ADDR_ULONG_ULONG_ADDR),
        CONTENTS("contents", Sig.ID),
        LENGTH("length", Sig.ULONG),
        COMMAND_BUFFER("commandBuffer", Sig.ID),
        COMPUTE_COMMAND_ENCODER("computeCommandEncoder", Sig.ID),
        SET_COMPUTE_PIPELINE_STATE("setComputePipelineState:", Sig.VOID_ADDR),
        SET_BUFFER("setBuffer:offset:atIndex:", Sig.VOID_ADDR_ULONG_ULONG),
        SET_BYTES("setBytes:length:atIndex:", Sig.VOID_ADDR_ULONG_ULONG),
        SET_THREADGROUP_MEMORY_LENGTH("setThreadgroupMemoryLength:atIndex:", Sig.VOID_ULONG_ULONG),
        DISPATCH_THREADGROUPS("dispatchThreadgroups:threadsPerThreadgroup:", Sig.VOID_SIZE_SIZE),
        END_ENCODING("endEncoding", Sig.VOID),
        COMMIT("commit", Sig.VOID),
        WAIT_UNTIL_COMPLETED("waitUntilCompleted", Sig.VOID),
        STATUS("status", Sig.ULONG),
        ERROR("error", Sig.ID);

        public final String selector;
        public final Sig sig;
        private volatile MemorySegment registered;

        Sel(String selector, Sig sig) {
            this.selector = selector;
            this.sig = sig;
        }

        /** The registered {@code SEL} (macOS only). */
        MemorySegment ptr() {
            MemorySegment s = registered;
            if (s == null) {
                s = Runtime.selector(selector);
                registered = s;
            }
            return s;
        }
    }

    /** libobjc, looked up on first use. */
    static final class Runtime {
        static final MemorySegment MSG_SEND;
        private static final MethodHandle GET_CLASS;
        private static final MethodHandle REGISTER_NAME;
        private static final MethodHandle POOL_PUSH;
        private static final MethodHandle POOL_POP;

        static {
            if (!isSupportedPlatform()) {
                throw new UnsupportedOperationException("the Objective-C runtime is only available on macOS (this is "
                        + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ")");
            }
            SymbolLookup objc = SymbolLookup.libraryLookup("/usr/lib/libobjc.A.dylib", Arena.global());
            Linker linker = Linker.nativeLinker();
            MSG_SEND = find(objc, "objc_msgSend");
            GET_CLASS = linker.downcallHandle(find(objc, "objc_getClass"), FunctionDescriptor.of(ADDRESS, ADDRESS));
            REGISTER_NAME = linker.downcallHandle(find(objc, "sel_registerName"), FunctionDescriptor.of(ADDRESS, ADDRESS));
            POOL_PUSH = linker.downcallHandle(find(objc, "objc_autoreleasePoolPush"), FunctionDescriptor.of(ADDRESS));
            POOL_POP = linker.downcallHandle(find(objc, "objc_autoreleasePoolPop"), FunctionDescriptor.ofVoid(ADDRESS));
        }

        static MemorySegment find(SymbolLookup lookup, String name) {
            return lookup.find(name).orElseThrow(() -> new IllegalStateException("libobjc has no symbol " + name));
        }

        static MemorySegment selector(String name) {
            try (Arena a = Arena.ofConfined()) {
                return (MemorySegment) REGISTER_NAME.invokeExact(a.allocateFrom(name));
            } catch (Throwable t) {
                throw rethrow("sel_registerName(" + name + ")", t);
            }
        }
    }

    private static RuntimeException rethrow(String what, Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(what + " failed", t);
    }

    /** {@code objc_getClass(name)}; throws when the class does not exist. */
    public static MemorySegment cls(String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = (MemorySegment) Runtime.GET_CLASS.invokeExact(a.allocateFrom(name));
            if (c.address() == 0) {
                throw new IllegalStateException("Objective-C class " + name + " not found");
            }
            return c;
        } catch (Throwable t) {
            throw rethrow("objc_getClass(" + name + ")", t);
        }
    }

    /** Pushes an autorelease pool (for +0 results such as {@code commandBuffer} and NSString factories). */
    public static MemorySegment pushPool() {
        try {
            return (MemorySegment) Runtime.POOL_PUSH.invokeExact();
        } catch (Throwable t) {
            throw rethrow("objc_autoreleasePoolPush", t);
        }
    }

    public static void popPool(MemorySegment pool) {
        try {
            Runtime.POOL_POP.invokeExact(pool);
        } catch (Throwable t) {
            throw rethrow("objc_autoreleasePoolPop", t);
        }
    }

    static void check(Sel s, Sig expected) {
        if (s.sig != expected) {
            throw new IllegalStateException("selector " + s.selector + " has signature " + s.sig + ", not " + expected);
        }
    }

    // ---- typed sends, one per signature (invokeExact with exact static types) ------------------------------

    /** The handles as static finals, so invokeExact call sites are constant and the JIT can inline the downcalls
     * (a holder class: ObjC's own initializer must not touch Sig, whose constructor reads ObjC's layouts). */
    private static final class H {
        static final MethodHandle ID = Sig.ID.handle;
        static final MethodHandle VOID = Sig.VOID.handle;
        static final MethodHandle ULONG = Sig.ULONG.handle;
        static final MethodHandle BOOL = Sig.BOOL.handle;
        static final MethodHandle BOOL_LONG = Sig.BOOL_LONG.handle;
        static final MethodHandle ID_ADDR = Sig.ID_ADDR.handle;
        static final MethodHandle VOID_ADDR = Sig.VOID_ADDR.handle;
        static final MethodHandle ID_ADDR_ADDR = Sig.ID_ADDR_ADDR.handle;
        static final MethodHandle ID_ADDR_ADDR_ADDR = Sig.ID_ADDR_ADDR_ADDR.handle;
        static final MethodHandle ID_ULONG_ULONG = Sig.ID_ULONG_ULONG.handle;
        static final MethodHandle ID_ADDR_ULONG_ULONG_ADDR = Sig.ID_ADDR_ULONG_ULONG_ADDR.handle;
        static final MethodHandle VOID_ADDR_ULONG_ULONG = Sig.VOID_ADDR_ULONG_ULONG.handle;
        static final MethodHandle VOID_ULONG_ULONG = Sig.VOID_ULONG_ULONG.handle;
        static final MethodHandle VOID_SIZE_SIZE = Sig.VOID_SIZE_SIZE.handle;
    }

    public static MemorySegment sendId(MemorySegment self, Sel s) {
        check(s, Sig.ID);
        try {
            return (MemorySegment) H.ID.invokeExact(Runtime.MSG_SEND, self, s.ptr());
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static void sendVoid(MemorySegment self, Sel s) {
        check(s, Sig.VOID);
        try {
            H.VOID.invokeExact(Runtime.MSG_SEND, self, s.ptr());
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static long sendULong(MemorySegment self, Sel s) {
        check(s, Sig.ULONG);
        try {
            return (long) H.ULONG.invokeExact(Runtime.MSG_SEND, self, s.ptr());
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static boolean sendBool(MemorySegment self, Sel s) {
        check(s, Sig.BOOL);
        try {
            return (boolean) H.BOOL.invokeExact(Runtime.MSG_SEND, self, s.ptr());
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static boolean sendBool(MemorySegment self, Sel s, long a) {
        check(s, Sig.BOOL_LONG);
        try {
            return (boolean) H.BOOL_LONG.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static MemorySegment sendId(MemorySegment self, Sel s, MemorySegment a) {
        check(s, Sig.ID_ADDR);
        try {
            return (MemorySegment) H.ID_ADDR.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static void sendVoid(MemorySegment self, Sel s, MemorySegment a) {
        check(s, Sig.VOID_ADDR);
        try {
            H.VOID_ADDR.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static MemorySegment sendId(MemorySegment self, Sel s, MemorySegment a, MemorySegment b) {
        check(s, Sig.ID_ADDR_ADDR);
        try {
            return (MemorySegment) H.ID_ADDR_ADDR.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static MemorySegment sendId(MemorySegment self, Sel s, MemorySegment a, MemorySegment b, MemorySegment c) {
        check(s, Sig.ID_ADDR_ADDR_ADDR);
        try {
            return (MemorySegment) H.ID_ADDR_ADDR_ADDR.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b, c);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static MemorySegment sendId(MemorySegment self, Sel s, long a, long b) {
        check(s, Sig.ID_ULONG_ULONG);
        try {
            return (MemorySegment) H.ID_ULONG_ULONG.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static MemorySegment sendId(MemorySegment self, Sel s, MemorySegment a, long b, long c, MemorySegment d) {
        check(s, Sig.ID_ADDR_ULONG_ULONG_ADDR);
        try {
            return (MemorySegment) H.ID_ADDR_ULONG_ULONG_ADDR.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b, c, d);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static void sendVoid(MemorySegment self, Sel s, MemorySegment a, long b, long c) {
        check(s, Sig.VOID_ADDR_ULONG_ULONG);
        try {
            H.VOID_ADDR_ULONG_ULONG.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b, c);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    public static void sendVoid(MemorySegment self, Sel s, long a, long b) {
        check(s, Sig.VOID_ULONG_ULONG);
        try {
            H.VOID_ULONG_ULONG.invokeExact(Runtime.MSG_SEND, self, s.ptr(), a, b);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    /** {@code [self s:size1 :size2]} with two {@code MTLSize} structs by value. */
    public static void sendSizes(MemorySegment self, Sel s, MemorySegment size1, MemorySegment size2) {
        check(s, Sig.VOID_SIZE_SIZE);
        try {
            H.VOID_SIZE_SIZE.invokeExact(Runtime.MSG_SEND, self, s.ptr(), size1, size2);
        } catch (Throwable t) {
            throw rethrow(s.selector, t);
        }
    }

    // ---- strings and errors ------------------------------------------------------------------------------

    /** An autoreleased {@code NSString} (call inside a pool). */
    public static MemorySegment nsString(Arena arena, String s) {
        return sendId(cls("NSString"), Sel.STRING_WITH_UTF8, arena.allocateFrom(s));
    }

    /** The Java string of an {@code NSString} (null for nil). */
    public static String string(MemorySegment nsString) {
        if (nsString.address() == 0) {
            return null;
        }
        MemorySegment utf8 = sendId(nsString, Sel.UTF8_STRING);
        return utf8.address() == 0 ? null : utf8.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** {@code [error localizedDescription]} of an {@code NSError}, or a placeholder when nil. */
    public static String describe(MemorySegment nsError) {
        if (nsError.address() == 0) {
            return "(no NSError)";
        }
        MemorySegment pool = pushPool();
        try {
            return string(sendId(nsError, Sel.LOCALIZED_DESCRIPTION));
        } finally {
            popPool(pool);
        }
    }
}
