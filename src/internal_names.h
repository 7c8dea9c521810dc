/* internal_names.h - the library's names shared between its files, in the
 * reserved corio__ namespace (internal).
 *
 * Every function or variable that one file of src/ defines and another uses
 * is global in libcorio.a, whose objects keep their link-time optimisation
 * data (a program linked with -flto gets corio's hot paths inlined into it).
 * So that such a name cannot clash with one of the program's own (a
 * task_init or a driver_open of its own), each is renamed here into the
 * corio__ prefix, which no public name uses; the Makefile includes this
 * file first in every library object (-include). libcorio.so exports only
 * the CORIO_API functions whatever their names.
 *
 * A new cross-file name goes in this list; tests/test_symbols.c fails, and
 * names it, if one is missing.
 */
#ifndef CORIO_INTERNAL_NAMES_H
#define CORIO_INTERNAL_NAMES_H

#define asym_init                      corio__asym_init
#define asym_owner_lock_slow           corio__asym_owner_lock_slow
#define asym_visit_lock                corio__asym_visit_lock
#define asym_visit_unlock              corio__asym_visit_unlock
#define block_on_parked                corio__block_on_parked
#define blocking_job_join              corio__blocking_job_join
#define blocking_pool_new              corio__blocking_pool_new
#define blocking_pool_shutdown         corio__blocking_pool_shutdown
#define blocking_pool_spawn            corio__blocking_pool_spawn
#define blocking_pool_spawn_owned      corio__blocking_pool_spawn_owned
#define blocking_pool_stats            corio__blocking_pool_stats
#define coro_await_enter               corio__coro_await_enter
#define coro_await_enter_polling       corio__coro_await_enter_polling
#define coro_await_ready               corio__coro_await_ready
#define coro_await_woken               corio__coro_await_woken
#define coro_check_fault               corio__coro_check_fault
#define coro_poll                      corio__coro_poll
#define coro_scope_enter               corio__coro_scope_enter
#define coro_shield_enter              corio__coro_shield_enter
#define coro_shield_exit               corio__coro_shield_exit
#define coro_shield_held_back          corio__coro_shield_held_back
#define coro_scope_exit                corio__coro_scope_exit
#define ctx_fpenv_capture              corio__ctx_fpenv_capture
#define ctx_free_thread                corio__ctx_free_thread
#define ctx_init_thread                corio__ctx_init_thread
#define ctx_make                       corio__ctx_make
#define ctx_switch                     corio__ctx_switch
#define ctx_switch_asm                 corio__ctx_switch_asm
#define ctx_switch_asm_peer            corio__ctx_switch_asm_peer
#define ctx_trampoline                 corio__ctx_trampoline
#define current_thread_build           corio__current_thread_build
#define driver_close                   corio__driver_close
#define driver_open                    corio__driver_open
#define driver_poll                    corio__driver_poll
#define driver_add                     corio__driver_add
#define driver_del                     corio__driver_del
#define driver_unpark                  corio__driver_unpark
#define fd_reader                      corio__fd_reader
#define fd_writer                      corio__fd_writer
#define fut_poll                       corio__fut_poll
#define gq_destroy                     corio__gq_destroy
#define gq_init                        corio__gq_init
#define gq_pop_batch                   corio__gq_pop_batch
#define gq_push                        corio__gq_push
#define gq_push_batch                  corio__gq_push_batch
#define idle_destroy                   corio__idle_destroy
#define idle_from_parked               corio__idle_from_parked
#define idle_from_searching            corio__idle_from_searching
#define idle_init                      corio__idle_init
#define idle_is_parked                 corio__idle_is_parked
#define idle_to_parked                 corio__idle_to_parked
#define idle_to_searching              corio__idle_to_searching
#define idle_wake_any                  corio__idle_wake_any
#define idle_worker_to_notify          corio__idle_worker_to_notify
#define inject_close                   corio__inject_close
#define inject_destroy                 corio__inject_destroy
#define inject_init                    corio__inject_init
#define inject_is_closed               corio__inject_is_closed
#define inject_push                    corio__inject_push
#define inject_take_all                corio__inject_take_all
#define multi_thread_build             corio__multi_thread_build
#define parker_current                 corio__parker_current
#define parker_park                    corio__parker_park
#define parker_waker                   corio__parker_waker
#define registry_counts                corio__registry_counts
#define registry_close_and_cancel      corio__registry_close_and_cancel
#define registry_destroy               corio__registry_destroy
#define registry_each                  corio__registry_each
#define registry_init                  corio__registry_init
#define registry_live                  corio__registry_live
#define spawn_target                   corio__spawn_target
#define stack_cache_flush              corio__stack_cache_flush
#define stack_cache_init               corio__stack_cache_init
#define stack_cache_trim               corio__stack_cache_trim
#define stack_get                      corio__stack_get
#define stack_get_stats                corio__stack_get_stats
#define stack_is_overflow_fault        corio__stack_is_overflow_fault
#define stack_overflow_handler_install corio__stack_overflow_handler_install
#define stack_put                      corio__stack_put
#define stack_round_size               corio__stack_round_size
#define stack_use_mapping_guards       corio__stack_use_mapping_guards
#define stats_read                     corio__stats_read
#define sync_wait                      corio__sync_wait
#define task_cancel                    corio__task_cancel
#define task_dealloc                   corio__task_dealloc
#define task_handle_check              corio__task_handle_check
#define task_next_id                   corio__task_next_id
#define task_outcome                   corio__task_outcome
#define task_ref_dec                   corio__task_ref_dec
#define task_set_name                  corio__task_set_name
#define task_spawn_future              corio__task_spawn_future
#define task_submit                    corio__task_submit
#define task_waker_vtable              corio__task_waker_vtable
#define taskmem_alloc                  corio__taskmem_alloc
#define taskmem_free                   corio__taskmem_free
#define taskmem_reserved_bytes         corio__taskmem_reserved_bytes
#define waitq_close_all                corio__waitq_close_all
#define waitq_news_drop                corio__waitq_news_drop
#define waitq_news_park                corio__waitq_news_park
#define waitq_news_repoll              corio__waitq_news_repoll
#define waitq_news_wake_all            corio__waitq_news_wake_all
#define wheel_advance                  corio__wheel_advance
#define wheel_clear                    corio__wheel_clear
#define wheel_holds_for                corio__wheel_holds_for
#define wheel_init                     corio__wheel_init
#define wheel_insert                   corio__wheel_insert
#define wheel_next_deadline            corio__wheel_next_deadline
#define wheel_remove                   corio__wheel_remove
#define wheel_try_advance              corio__wheel_try_advance
#define wheel_update_waker             corio__wheel_update_waker
#define worker_current_slow            corio__worker_current_slow
#define worker_enter                   corio__worker_enter
#define worker_handle                  corio__worker_handle
#define worker_leave                   corio__worker_leave
#define worker_set_handle              corio__worker_set_handle
#define worker_tls_offset              corio__worker_tls_offset

/* io/ */
#define fd_adopt                       corio__fd_adopt
#define fd_io                          corio__fd_io
#define addr_unix                      corio__addr_unix
#define addr_unix_socket               corio__addr_unix_socket
#define dgram_recv                     corio__dgram_recv
#define dgram_recv_poll                corio__dgram_recv_poll
#define dgram_send                     corio__dgram_send
#define dgram_send_drop                corio__dgram_send_drop
#define dgram_send_poll                corio__dgram_send_poll
#define stream_einval_vt               corio__stream_einval_vt
#define fd_io_poll                     corio__fd_io_poll
#define fd_io_result                   corio__fd_io_result
#define fd_recv_call                   corio__fd_recv_call
#define fd_send_call                   corio__fd_send_call
#define fd_open_sized                  corio__fd_open_sized
#define addr_lookup                    corio__addr_lookup
#define addr_loose_ipv4                corio__addr_loose_ipv4
#define addr_resolve                   corio__addr_resolve
#define addr_split                     corio__addr_split
#define net_sock_addr                  corio__net_sock_addr
#define stream_accept_drop             corio__stream_accept_drop
#define stream_accept_poll             corio__stream_accept_poll
#define stream_exact_poll              corio__stream_exact_poll
#define stream_read_exact              corio__stream_read_exact
#define stream_readv                   corio__stream_readv
#define stream_shutdown                corio__stream_shutdown
#define stream_write_all               corio__stream_write_all
#define stream_writev                  corio__stream_writev
#define io_reg_close                   corio__io_reg_close
#define io_reg_open                    corio__io_reg_open
#define io_reg_poll_ready              corio__io_reg_poll_ready
#define io_waiter_drop                 corio__io_waiter_drop
#define reactor_close                  corio__reactor_close
#define reactor_refuse                 corio__reactor_refuse
#define reactor_open                   corio__reactor_open
#define reactor_shared_reg             corio__reactor_shared_reg
#define reactor_turn                   corio__reactor_turn
#define reactor_unpark                 corio__reactor_unpark

#endif
