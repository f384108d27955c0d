; Long-mode probe for components/qemu/detect-accel.sh: a 512-byte boot sector that goes
; real mode -> 32-bit protected mode -> PAE + long mode (the first 2 MiB identity-mapped) and,
; only in 64-bit code, writes "LM64\n" to the serial port (COM1, 0x3f8) and then 0x2a to the
; isa-debug-exit port (0xf4): QEMU exits with status (0x2a << 1) | 1 = 85.
;
; Nothing else in the guest writes to the serial port or the exit port, so either signal proves
; that a 64-bit guest ran under the accelerator. A guest that faults on the way triple-faults
; (QEMU exits 0 under -no-reboot) or hangs; both leave the serial log empty.
;
; The assembled probe.bin is committed next to this file: CI needs no assembler.
; Rebuild it with ./build.sh (nasm); test/scripts/detect-accel-probe.test.ts checks the two agree.

bits 16
org 0x7c00

PML4        equ 0x1000              ; page tables in free low memory, below the boot sector
PDPT        equ 0x2000
PD          equ 0x3000
COM1        equ 0x3f8
EXIT_PORT   equ 0xf4
EXIT_VALUE  equ 0x2a

real_mode:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    in al, 0x92                     ; fast A20 gate (bit 0 would reset the machine)
    or al, 2
    and al, 0xfe
    out 0x92, al
    mov di, PML4                    ; zero PML4, PDPT and PD
    mov cx, (PD + 0x1000 - PML4) / 2
    xor ax, ax
    cld
    rep stosw
    mov word [PML4], PDPT | 3       ; present | writable
    mov word [PDPT], PD | 3
    mov word [PD], 0x83             ; one 2 MiB page at 0: present | writable | page size
    lgdt [gdt_descriptor]
    mov eax, cr0
    or eax, 1                       ; PE
    mov cr0, eax
    jmp dword CODE32:protected_mode

bits 32
protected_mode:
    mov ax, DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, 1 << 5                  ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080             ; EFER
    rdmsr
    or eax, 1 << 8                  ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31                 ; PG: long mode becomes active
    mov cr0, eax
    jmp CODE64:long_mode

bits 64
long_mode:
    lea rsi, [rel message]
    mov dx, COM1
.next_byte:
    lodsb
    test al, al
    jz .exit
    out dx, al
    jmp .next_byte
.exit:
    mov al, EXIT_VALUE
    out EXIT_PORT, al
.halt:                              ; only reached without an isa-debug-exit device
    hlt
    jmp .halt

message:
    db "LM64", 10, 0

align 8
gdt:
    dq 0
CODE32 equ $ - gdt
    dq 0x00cf9a000000ffff           ; 32-bit code, base 0, 4 GiB
DATA equ $ - gdt
    dq 0x00cf92000000ffff           ; data, base 0, 4 GiB
CODE64 equ $ - gdt
    dq 0x00af9a000000ffff           ; 64-bit code (L=1)
gdt_end:

gdt_descriptor:
    dw gdt_end - gdt - 1
    dd gdt

    times 510 - ($ - $$) db 0
    dw 0xaa55
