package io.strata.metal.objc;

import io.strata.metal.objc.ObjC.Sel;
import io.strata.metal.objc.ObjC.Sig;
import org.junit.jupiter.api.Test;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodType;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Objective-C binding up to the message send, checked on any platform: every selector is paired with a
 * signature of the right arity, each signature has one downcall handle of the right Java type, MTLSize is the
 * 24-byte by-value struct, and nothing touches libobjc off macOS.
 */
class ObjCTablesTest {

    @Test
    void everySelectorTakesAsManyArgumentsAsItsColonsSay() {
        for (Sel s : Sel.values()) {
            long colons = s.selector.chars().filter(c -> c == ':').count();
            assertEquals(colons, s.sig.extraArguments(), s.selector + " is bound to " + s.sig);
        }
    }

    @Test
    void signaturesStartWithSelfAndCmdAndAreDistinct() {
        Set<FunctionDescriptor> seen = new HashSet<>();
        for (Sig sig : Sig.values()) {
            assertEquals(ValueLayout.ADDRESS, sig.descriptor.argumentLayouts().get(0), sig + ": self");
            assertEquals(ValueLayout.ADDRESS, sig.descriptor.argumentLayouts().get(1), sig + ": _cmd");
            assertTrue(seen.add(sig.descriptor), "one downcall handle per signature: " + sig + " duplicates another");
        }
    }

    @Test
    void handlesTakeTheFunctionAddressThenTheMethodPrototype() {
        MethodType dispatch = Sig.VOID_SIZE_SIZE.handle().type();
        assertEquals(MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                MemorySegment.class, MemorySegment.class), dispatch);
        assertEquals(MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                MemorySegment.class, long.class, long.class), Sig.VOID_ADDR_ULONG_ULONG.handle().type());
        assertEquals(MethodType.methodType(MemorySegment.class, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                MemorySegment.class, long.class, long.class, MemorySegment.class), Sig.ID_ADDR_ULONG_ULONG_ADDR.handle().type());
        assertEquals(MethodType.methodType(boolean.class, MemorySegment.class, MemorySegment.class, MemorySegment.class, long.class),
                Sig.BOOL_LONG.handle().type());
        for (Sig sig : Sig.values()) {
            assertEquals(sig.descriptor.argumentLayouts().size() + 1, sig.handle().type().parameterCount(), sig.toString());
        }
    }

    @Test
    void selectorsUseTheSignaturesOfTheirMetalMethods() {
        assertEquals(Sig.VOID_SIZE_SIZE, Sel.DISPATCH_THREADGROUPS.sig);
        assertEquals(Sig.VOID_ADDR_ULONG_ULONG, Sel.SET_BUFFER.sig);
        assertEquals(Sig.VOID_ADDR_ULONG_ULONG, Sel.SET_BYTES.sig);
        assertEquals(Sig.VOID_ULONG_ULONG, Sel.SET_THREADGROUP_MEMORY_LENGTH.sig);
        assertEquals(Sig.ID_ADDR_ADDR_ADDR, Sel.NEW_LIBRARY_WITH_SOURCE.sig);
        assertEquals(Sig.ID_ADDR_ADDR, Sel.NEW_PIPELINE_WITH_FUNCTION.sig);
        assertEquals(Sig.ID_ADDR_ULONG_ULONG_ADDR, Sel.NEW_BUFFER_NO_COPY.sig);
        assertEquals(Sig.ID_ULONG_ULONG, Sel.NEW_BUFFER_WITH_LENGTH.sig);
        assertEquals(Sig.BOOL_LONG, Sel.SUPPORTS_FAMILY.sig);
    }

    @Test
    void aTypedSendRefusesASelectorOfAnotherSignature() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ObjC.check(Sel.SET_BUFFER, Sig.VOID_ULONG_ULONG));
        assertTrue(e.getMessage().contains("setBuffer:offset:atIndex:"), e.getMessage());
    }

    @Test
    void mtlSizeIsThreeNsUIntegersBy24Bytes() {
        StructLayout s = ObjC.MTL_SIZE;
        assertEquals(24, s.byteSize());
        assertEquals(8, s.byteAlignment());
        assertEquals(16, s.byteOffset(MemoryLayout.PathElement.groupElement("depth")));
    }

    @Test
    void offMacNothingLoadsTheObjectiveCRuntime() {
        if (ObjC.isSupportedPlatform()) {
            return;  // the macOS job runs the real device instead (MetalKernelsTest)
        }
        assertFalse(ObjC.isSupportedPlatform());
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, MetalDevice::open);
        assertTrue(e.getMessage().contains("macOS on Apple silicon"), e.getMessage());
        // the class tables are usable without libobjc
        assertEquals("dispatchThreadgroups:threadsPerThreadgroup:", Sel.DISPATCH_THREADGROUPS.selector);
    }
}
